"""Health probes and Prometheus metrics (docs/operations.md).

``/health/live``: the process answers (no database, no fail2ban).
``/health/ready``: the database, then each app's ``health_checks`` hook
(fail2ban: jails; the task worker's heartbeat: nodes);
200 or 503 with JSON naming what is down (anonymous callers get each
check's state only; the reasons go to the log and to logged-in users).
``/metrics``: Prometheus text format, only with ``BANGUI_METRICS_TOKEN``
and/or ``BANGUI_METRICS_ALLOW`` set (404 otherwise); written by
prometheus_client from a collector over the apps' ``metrics`` hooks.

All three bypass the setup gate and the login wall.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.models import Failure
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from bangui.clientip import client_ip
from bangui.hooks import app_hooks
from bangui.views import setup_not_required

log = logging.getLogger("bangui.health")


def _probe(view):
    return setup_not_required(login_not_required(never_cache(require_GET(view))))


@_probe
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except DatabaseError as exc:
        return {"ok": False, "error": exc.__class__.__name__}


@_probe
def ready(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database()}
    for name, check in app_hooks("health_checks"):
        checks[name] = check() if checks["database"]["ok"] else \
            {"ok": False, "error": "not checked: database down"}
    down = [name for name, result in checks.items() if not result["ok"]]
    for name in down:
        log.warning("readiness: %s is down: %s", name, checks[name].get("error", "?"))
    if not request.user.is_authenticated:
        # Anonymous callers (load balancers, anyone) learn only the states:
        # error texts carry socket paths and server details.
        checks = {name: "ok" if result["ok"] else "down" for name, result in checks.items()}
    body = {"status": "ok" if not down else "unavailable", "checks": checks}
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


# --- metrics ---------------------------------------------------------------------

def _metrics_denied(request: HttpRequest) -> HttpResponse | None:
    token, allow = settings.METRICS_TOKEN, settings.METRICS_ALLOW
    if not token and not allow:
        return HttpResponse("metrics are off (set BANGUI_METRICS_TOKEN or BANGUI_METRICS_ALLOW)\n",
                            status=404, content_type="text/plain")
    if allow:
        ip = client_ip(request)
        address = ipaddress.ip_address(ip) if ip else None
        if address is None or not any(
            address in ipaddress.ip_network(net, strict=False) for net in allow
        ):
            return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="bangui-metrics"'
            return response
    return None


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _own_families() -> Iterator[Metric]:
    """The task queue's families (read from the database; the task
    cluster's lease and the nodes are the nodes app's ``metrics`` hook)."""
    yield _gauge("bangui_task_failures", "Failed tasks kept by django-q2.",
                 Failure.objects.count())
    last_failure = Failure.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    if last_failure is not None:
        yield _gauge("bangui_task_last_failure_timestamp_seconds",
                     "When the latest failed task stopped (Unix time).",
                     int(last_failure.timestamp()))


class _Collector:
    """One scrape's families: each app's ``metrics`` hook (bangui/hooks.py),
    then bangui's own. A hook is a function of no arguments returning an
    iterable of ``prometheus_client`` metric families (``GaugeMetricFamily``,
    ``CounterMetricFamily``…), built from fail2ban's answers or the
    database at scrape time: no process keeps a counter, so every gunicorn
    worker answers the same numbers."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        for _, hook in app_hooks("metrics"):
            yield from hook()
        yield from _own_families()
        yield _gauge("bangui_metrics_scrape_seconds", "Time taken to collect these metrics.",
                     round(time.perf_counter() - started, 4))


def exposition() -> bytes:
    """The Prometheus text (format 0.0.4) of one scrape. A fresh registry
    each time: prometheus_client's default one would add this process's
    own collectors (GC, process, platform), which differ per worker."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry)


@setup_not_required
@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    denied = _metrics_denied(request)
    if denied is not None:
        return denied
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
