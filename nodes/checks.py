"""System check: BanGUI's task cluster runs exactly one worker.

Run by every ``manage.py`` command (``qcluster`` included; BanGUI's
``qcluster`` also runs :func:`worker_errors` itself, so ``--skip-checks``
cannot get around it). The ids stay ``bangui.E001``/``E002``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

WHY = ("BanGUI's task cluster must run exactly one worker: the GeoCache (its "
       "memory, negative cache and pending last_seen touches) lives in that "
       "worker's memory and the schedules assume no task runs beside itself.")


def worker_errors() -> list[Error]:
    conf = getattr(settings, "Q_CLUSTER", {}) or {}
    errors = []
    workers = conf.get("workers")
    if workers != 1:
        errors.append(Error(
            f"Q_CLUSTER['workers'] is {workers!r}. {WHY}",
            hint="Set Q_CLUSTER['workers'] = 1 in bangui/settings.py (it has no "
                 "environment variable). Run one `manage.py qcluster` per installation.",
            id="bangui.E001",
        ))
    if conf.get("ALT_CLUSTERS"):
        errors.append(Error(
            f"Q_CLUSTER['ALT_CLUSTERS'] is set. {WHY}",
            hint="Remove ALT_CLUSTERS: BanGUI uses one cluster and one queue.",
            id="bangui.E002",
        ))
    return errors


@register()
def check_single_worker(app_configs=None, **kwargs) -> list[Error]:
    return worker_errors()
