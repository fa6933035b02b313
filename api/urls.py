"""/api/: the JSON API under v1/ (ninja's URLs, open to the login wall:
the API answers 401 itself, as JSON; a JSON 404 for any other path under
it), and the token page."""

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, include, path

from api import views
from api.v1 import api

app_name = "api"


@login_not_required
def not_found(request: HttpRequest, rest: str) -> JsonResponse:
    return JsonResponse({"error": "not_found", "detail": f"no API endpoint /api/v1/{rest}"},
                        status=404)


def _json_405(view):
    """ninja answers a method an endpoint lacks with a plain-text 405: the
    API's errors are JSON."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
                "application/json"):
            allowed = response.get("Allow", "")
            response = JsonResponse({"error": "method_not_allowed",
                                     "detail": f"{request.method} is not allowed here; "
                                               f"use {allowed}"}, status=405)
            response["Allow"] = allowed
        return response

    return wrapped


def _open(patterns: list) -> list:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = login_not_required(_json_405(pattern.callback))
        else:
            _open(pattern.url_patterns)
    return patterns


urlpatterns = [
    path("v1/", include(_open(api.urls[0]))),
    path("v1/<path:rest>", not_found),
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
