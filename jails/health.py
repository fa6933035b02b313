"""The jails app's part of ``/health/ready`` and ``/metrics``: fail2ban's
socket and the ban archive. bangui/health.py finds these through
``JailsConfig.health_checks`` and ``JailsConfig.metrics``."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.utils import timezone

from jails.fail2ban import Fail2banError
from jails.live import link
from jails.models import BanEvent, SyncState


def fail2ban() -> dict:
    try:
        if link.client(connect_retries=0).ping():
            return {"ok": True}
        return {"ok": False, "error": "unexpected answer to ping"}
    except Fail2banError as exc:
        return {"ok": False, "error": str(exc)}
    except DatabaseError:  # the socket path is a runtime setting
        return {"ok": False, "error": "socket path unknown: database unavailable"}


def archive_rows() -> int:
    """BanEvent rows: PostgreSQL's planner estimate (a count of a big table
    scans it), else a count (SQLite counts ~1M rows in tens of ms)."""
    table = BanEvent._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [table])
            row = cursor.fetchone()
        if row and row[0] is not None and row[0] >= 0:  # -1: never analysed
            return int(row[0])
    return BanEvent.objects.count()


def metrics(out) -> None:
    """fail2ban's counters per jail, the archive's size and sync lag."""
    try:
        overview = link.client(connect_retries=0).overview()
    except Fail2banError:
        overview = None
    out.one("bangui_fail2ban_up", "gauge", "1 when fail2ban answered on its socket.",
            overview is not None)
    if overview is not None:
        for name, attr, kind, text in (
            ("bangui_jail_banned", "currently_banned", "gauge",
             "Addresses currently banned, per jail."),
            ("bangui_jail_failed", "currently_failed", "gauge",
             "Addresses currently failing, per jail."),
            ("bangui_jail_banned_total", "total_banned", "counter",
             "Bans since the jail started (fail2ban's counter), per jail."),
        ):
            out.family(name, kind, text)
            for jail in overview.jails:
                out.sample(name, getattr(jail, attr), {"jail": jail.name})

    out.one("bangui_archive_rows", "gauge",
            "Rows in the ban archive (PostgreSQL: the planner's estimate).", archive_rows())
    last_sync = (SyncState.objects.filter(last_success_at__isnull=False)
                 .order_by("-last_success_at").values_list("last_success_at", flat=True).first())
    if last_sync is not None:
        out.one("bangui_archive_sync_lag_seconds", "gauge",
                "Seconds since the archive sync last succeeded.",
                round((timezone.now() - last_sync).total_seconds(), 1))
        out.one("bangui_archive_last_sync_timestamp_seconds", "gauge",
                "When the archive sync last succeeded (Unix time).", int(last_sync.timestamp()))
