import logging
import re
import time
import uuid

from django.db import connection, connections
from django.utils.cache import patch_vary_headers
from django_htmx.http import trigger_client_event

from bangui.dbretry import is_transient, retrying
from bangui.logging import request_id_var

# How long a request waits for the database to come back before it fails
# (with the 503 page: bangui.views.server_error).
DATABASE_WAIT_SECONDS = 10
PROBES = ("/health/", "/metrics")
SAFE_METHODS = ("GET", "HEAD")
db_logger = logging.getLogger("bangui.db")


class VaryOnHtmxMiddleware:
    """One URL serves a full page and its HTMX fragment, so every response
    varies on HX-Request (caches must not hand a fragment to a page load)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ["HX-Request"])
        return response


class ChangedEventMiddleware:
    """After an HTMX POST (an action: a ban, a jail stopped, a file saved)
    the page hears "bangui:changed" (HX-Trigger), so what shows the server's
    state elsewhere on it (the status bar) refreshes at once instead of on
    its next 10 s poll ("2 jails running" for 10 s after a Stop)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (request.method == "POST" and request.headers.get("HX-Request") == "true"
                and response.status_code < 500):
            trigger_client_event(response, "bangui:changed", after="settle")
        return response


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_logger = logging.getLogger("bangui.request")


class RequestLogMiddleware:
    """One log line per request: method, path (never the query string, which
    may carry tokens), status, duration, user id and a request id, taken
    from a well-formed ``X-Request-ID`` header or generated, and sent back
    in ``X-Request-ID``. Headers, cookies and session keys are never logged.
    First in MIDDLEWARE, so the duration covers the whole stack."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            duration = round((time.perf_counter() - started) * 1000, 1)
            # Only a user the request already loaded: no extra session query.
            user_id = getattr(getattr(request, "_cached_user", None), "pk", None)
            request_logger.info(
                "%s %s %s %.1fms user=%s", request.method, request.path, status, duration,
                user_id if user_id is not None else "-",
                extra={"method": request.method, "path": request.path, "status": status,
                       "duration_ms": duration, "user_id": user_id},
            )
            request_id_var.reset(token)


def _connect() -> None:
    connection.close_if_health_check_failed()  # a kept connection a restart closed
    connection.ensure_connection()


class DatabaseReadyMiddleware:
    """Connects before the request runs, waiting out a database that is
    restarting or refusing connections (up to DATABASE_WAIT_SECONDS, each
    retry logged): a PostgreSQL restart costs the requests of those seconds
    a wait, not a 503. Kept connections are health-checked (settings:
    conn_health_checks), so one the restart closed is replaced here. A
    read the restart cuts off mid-request runs once more (process_exception)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(PROBES):  # they report the database's state themselves
            return self.get_response(request)
        self._wait(request)
        return self.get_response(request)

    @staticmethod
    def _wait(request) -> None:
        retrying(_connect, what=f"{request.method} {request.path}",
                 seconds=DATABASE_WAIT_SECONDS, first_delay=0.25, max_delay=2)

    def process_view(self, request, view_func, view_args, view_kwargs):
        request._bangui_view = (view_func, view_args, view_kwargs)

    def process_exception(self, request, exception):
        """A restart that lands mid-request cuts the statement in flight
        ("terminating connection due to administrator command"). A safe
        request (GET, HEAD: it reads, so running it again changes nothing)
        then runs once more on a new connection, after the same wait; a POST
        is never repeated (it answers 503: the user decides). A second failure
        goes on to the 503 page."""
        view = getattr(request, "_bangui_view", None)
        if (view is None or request.method not in SAFE_METHODS or not is_transient(exception)
                or getattr(request, "_bangui_retried", False)):
            return None
        request._bangui_retried = True
        db_logger.warning("%s %s: the database went away mid-request (%s); running it again",
                          request.method, request.path, str(exception).strip().splitlines()[0])
        connections.close_all()
        self._wait(request)
        view_func, view_args, view_kwargs = view
        response = view_func(request, *view_args, **view_kwargs)
        render = getattr(response, "render", None)
        return render() if callable(render) else response
