"""The WSGI entry point (gunicorn ``bangui.wsgi``).

Each worker gets ready before its first request (``bangui.warm``): every
view module imported, BanGUI's own templates compiled, and what that built
moved out of the garbage collector's way (#29: the first requests of a
worker and the collector's full passes were the slowest of a run)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bangui.settings")
application = get_wsgi_application()

from bangui import warm  # noqa: E402 (Django is set up by the line above)

warm.worker()
