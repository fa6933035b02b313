"""The image's HEALTHCHECK: GET /health/live as the reverse proxy would send it.

Plain ``http://127.0.0.1:8000`` is not enough in production: Django answers
400 to a Host outside BANGUI_ALLOWED_HOSTS, and with BANGUI_SECURE=1 it
redirects plain HTTP to HTTPS. So the probe names the first allowed host and
says it came over HTTPS (honoured with BANGUI_BEHIND_PROXY=1, which
BANGUI_SECURE=1 behind a proxy needs anyway). Python's urllib: no curl in
the slim image. Exit 0 healthy, 1 not.
"""

import os
import sys
import urllib.error
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer we did not want: unhealthy


def main() -> int:
    hosts = [h.strip() for h in os.environ.get("BANGUI_ALLOWED_HOSTS", "").split(",")]
    host = next((h.lstrip(".") for h in hosts if h and h != "*"), "localhost")
    port = os.environ.get("BANGUI_BIND", "0.0.0.0:8000").rsplit(":", 1)[-1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/health/live",
        headers={"Host": host, "X-Forwarded-Proto": "https"})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
