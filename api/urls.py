"""/api/v1/: ninja's URLs, open to the login wall (the API answers 401
itself, as JSON), and a JSON 404 for any other path under it."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path

from api.v1 import api

app_name = "api-v1"


@login_not_required
def not_found(request: HttpRequest, rest: str) -> JsonResponse:
    return JsonResponse({"error": "not_found", "detail": f"no API endpoint /api/v1/{rest}"},
                        status=404)


def _open(patterns: list) -> list:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            login_not_required(pattern.callback)
        else:
            _open(pattern.url_patterns)
    return patterns


urlpatterns = [*_open(api.urls[0]), path("<path:rest>", not_found)]
