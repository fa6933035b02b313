from django.utils.cache import patch_vary_headers


class VaryOnHtmxMiddleware:
    """One URL serves a full page and its HTMX fragment, so every response
    varies on HX-Request (caches must not hand a fragment to a page load)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ["HX-Request"])
        return response
