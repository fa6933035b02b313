"""Every error the API answers has one shape: ``{"error": CODE, "detail":
TEXT}`` (more fields where they help), with 400, 401, 403, 404, 409, 429
or 503 (docs/api.md, "Errors")."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

# The error code of each status, when the code says no more than the status.
CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 429: "rate_limited",
         503: "unavailable"}


class ApiError(Exception):
    """An answer other than success: ``status``, ``error`` (a short code),
    ``detail`` (for a person), ``extra`` fields and response ``headers``."""

    def __init__(self, status: int, detail: str, error: str | None = None, *,
                 headers: dict | None = None, **extra) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.error = error or CODES.get(status, "error")
        self.headers, self.extra = headers or {}, extra

    def response(self) -> JsonResponse:
        response = JsonResponse({"error": self.error, "detail": self.detail, **self.extra},
                                status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="bangui"'
        return response


def _where(loc) -> str:
    # ("body", "payload", "ip") -> "ip"; ("query", "page") -> "page"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "filters")]
    return ".".join(parts) or "request"


def validation_detail(exc: ValidationError) -> str:
    return "; ".join(f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}"
                     for e in exc.errors) or "invalid request"


def install(api: NinjaAPI) -> None:
    """The handlers that turn every failure into the one error shape."""

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError):
        return exc.response()

    @api.exception_handler(ValidationError)
    def _invalid(request: HttpRequest, exc: ValidationError):
        return ApiError(400, validation_detail(exc)).response()

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError):
        return ApiError(401, "send Authorization: Bearer <token> (manage.py api_token "
                             "create), or log in").response()

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError):
        return ApiError(exc.status_code, str(exc.message)).response()

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404):
        return ApiError(404, str(exc) or "not found").response()
