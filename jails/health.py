"""The jails app's part of ``/health/ready`` and ``/metrics``: fail2ban's
socket and the ban archive. bangui/health.py finds these through
``JailsConfig.health_checks`` and ``JailsConfig.metrics``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from jails.config import files as config_files
from jails.config import jail as jail_config
from jails.config import regex
from jails.fail2ban import Fail2banError, ProtocolError
from jails.fail2ban.errors import Starting
from jails.fail2ban.versions import untested_warning
from jails.live import link
from jails.models import BanEvent, SyncState


def fail2ban() -> dict:
    """fail2ban's readiness: it answers ``ping``. Its version, the warning
    for an untested release and a start in progress ("state": "starting")
    are details: bangui/health.py shows them to signed-in users only."""
    try:
        version = link.client(connect_retries=0).ping_version()
    except Starting as exc:
        return {"ok": False, "state": "starting", "error": str(exc)}
    except ProtocolError as exc:
        return {"ok": False, "error": str(exc)}
    except Fail2banError as exc:
        return {"ok": False, "state": "unreachable", "error": str(exc)}
    except DatabaseError:  # the socket path is a runtime setting
        return {"ok": False, "error": "socket path unknown: database unavailable"}
    result = {"ok": True, "version": version}
    warning = untested_warning(version)
    if warning:
        result["warning"] = warning
    return result


# The jails' settings a node publishes (bantime, findtime, maxretry, the
# ignore list), the jails its config defines (the jail page's config part),
# its server settings and its filter.d names (the regex tester): several socket calls per jail
# and a read of the config, so kept in the process's cache (the
# command lane's worker, where the facts task runs) for
# JAIL_SETTINGS_SECONDS, re-read when the jail list changes or right after a
# command changed something here (jails.fleet.commands.run).
JAIL_SETTINGS_SECONDS = 30
_SETTINGS_KEY = "jails:published-jail-settings"


def forget_jail_settings() -> None:
    cache.delete(_SETTINGS_KEY)


def _published_settings(client, jails: list[str]) -> dict:
    """The running jails' settings, the configured jails and the filter.d
    names (see above)."""
    kept = cache.get(_SETTINGS_KEY)
    if kept is not None and kept["jails"] == jails:
        return kept["value"]
    settings_ = {}
    for name in jails:
        try:
            js = client.jail_settings(name)
        except Fail2banError:
            continue  # stopped meanwhile: the next read has it or not
        settings_[name] = {"bantime": js.bantime, "findtime": js.findtime,
                           "maxretry": js.maxretry, "backend": js.backend,
                           "log_paths": js.log_paths[:50], "actions": js.actions[:20],
                           "ignore_ips": js.ignore_ips[:200],
                           "ignore_self": js.ignore_self}
    try:
        configured = {name: asdict(j) for name, j in
                      list(jail_config.configured_jails().items())[:500]}
    except (config_files.ConfigError, OSError):  # the page says "not published"
        configured = {}
    try:
        server = asdict(client.server_settings())
    except Fail2banError:
        server = {}
    value = {"jail_settings": settings_, "configured_jails": configured,
             "server_settings": server,
             "filters": regex.filter_names()[:1000]}
    cache.set(_SETTINGS_KEY, {"jails": list(jails), "value": value}, JAIL_SETTINGS_SECONDS)
    return value


def node_facts() -> dict:
    """What this node's worker publishes on its Node row every few seconds
    (``nodes.worker.publish_facts``, found through ``JailsConfig.node_facts``):
    whether fail2ban answers, its version, its jails and their counters (one
    connection: ``status`` and ``status JAIL short`` per jail, 2 s at most),
    their settings and ignore lists and the filter.d names (re-read every
    ``JAIL_SETTINGS_SECONDS`` or after a change), and when the archive last
    synced."""
    facts: dict = {"fail2ban_up": False}
    try:
        client = link.client(connect_retries=0, timeout=2)
        overview = client.overview()
        names = [j.name for j in overview.jails]
        facts.update(
            fail2ban_up=True, fail2ban_version=overview.version[:40], jails=names,
            jail_counts={j.name: {"banned": j.currently_banned, "failed": j.currently_failed,
                                  "total_banned": j.total_banned,
                                  "total_failed": j.total_failed} for j in overview.jails},
        )
        facts.update(_published_settings(client, names))
    except Fail2banError:
        pass
    synced = (SyncState.objects.exclude(last_success_at=None)
              .order_by("-last_success_at").values_list("last_success_at", flat=True).first())
    if synced is not None:
        facts["archive_synced_at"] = synced
    return facts


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


# The jail settings fail2ban-prometheus-exporter exports, in jail_times' order.
_CONFIG_FAMILIES = (
    ("f2b_config_jail_ban_time", "How long this jail bans an address (seconds; -1: for ever)."),
    ("f2b_config_jail_find_time", "How far back this jail's filter counts failures (seconds)."),
    ("f2b_config_jail_max_retries", "Failures within the find time that make a ban."),
)


def _per_jail(kind, name: str, help_text: str, values) -> Metric:
    family = kind(name, help_text, labels=["jail"])
    for jail, value in values:
        family.add_metric([jail], value)
    return family


def fail2ban_metrics() -> Iterator[Metric]:
    """fail2ban's own counters, read from its socket at each scrape: the
    names of fail2ban-prometheus-exporter (``f2b_*``, so its Grafana
    dashboards work) and BanGUI's older ``bangui_*`` ones. fail2ban not
    answering: ``f2b_up 0`` and no per-jail family."""
    client = link.client(connect_retries=0)
    try:
        overview = client.overview()
    except Fail2banError:
        overview = None
    up = int(overview is not None)
    yield GaugeMetricFamily("f2b_up", "1 when fail2ban answered on its socket.", value=up)
    yield GaugeMetricFamily("bangui_fail2ban_up", "1 when fail2ban answered on its socket.",
                            value=up)
    if overview is None:
        return

    version = GaugeMetricFamily("f2b_version", "Versions of the exporter (BanGUI) and of fail2ban.",
                                labels=["exporter", "fail2ban"])
    version.add_metric([f"bangui-{settings.BANGUI_VERSION}", overview.version], 1)
    yield version
    jails = overview.jails
    yield GaugeMetricFamily("f2b_jail_count", "Jails running in fail2ban.", value=len(jails))

    def values(attr):
        return [(jail.name, getattr(jail, attr)) for jail in jails]

    gauge, counter = GaugeMetricFamily, CounterMetricFamily
    # fail2ban-client status JAIL: "Currently banned", "Total banned",
    # "Currently failed", "Total failed". The totals count since the jail
    # started (a restart or a reload that restarts it resets them): counters.
    yield _per_jail(gauge, "f2b_jail_banned_current", "Addresses currently banned in this jail.",
                    values("currently_banned"))
    yield _per_jail(counter, "f2b_jail_banned_total",
                    "Bans by this jail since it started (includes expired bans).",
                    values("total_banned"))
    yield _per_jail(gauge, "f2b_jail_failed_current",
                    "Failures currently counted by this jail's filter.", values("currently_failed"))
    yield _per_jail(counter, "f2b_jail_failed_total",
                    "Failures found by this jail's filter since it started.",
                    values("total_failed"))
    try:
        config = client.jail_times(jail.name for jail in jails)
    except (Fail2banError, TypeError, ValueError):  # e.g. a jail stopped in between
        config = {}
    if config:
        for index, (name, text) in enumerate(_CONFIG_FAMILIES):
            yield _per_jail(gauge, name, text,
                            [(jail, settings_[index]) for jail, settings_ in config.items()])

    yield _per_jail(gauge, "bangui_jail_banned", "Addresses currently banned, per jail.",
                    values("currently_banned"))
    yield _per_jail(gauge, "bangui_jail_failed", "Addresses currently failing, per jail.",
                    values("currently_failed"))
    yield _per_jail(counter, "bangui_jail_banned_total",
                    "Bans since the jail started (fail2ban's counter), per jail.",
                    values("total_banned"))


def archive_metrics() -> Iterator[Metric]:
    """The ban archive's size and sync lag, from the database."""
    yield GaugeMetricFamily("bangui_archive_rows",
                            "Rows in the ban archive (PostgreSQL: the planner's estimate).",
                            value=archive_rows())
    last_sync = (SyncState.objects.filter(last_success_at__isnull=False)
                 .order_by("-last_success_at").values_list("last_success_at", flat=True).first())
    if last_sync is not None:
        yield GaugeMetricFamily("bangui_archive_sync_lag_seconds",
                                "Seconds since the archive sync last succeeded.",
                                value=round((timezone.now() - last_sync).total_seconds(), 1))
        yield GaugeMetricFamily("bangui_archive_last_sync_timestamp_seconds",
                                "When the archive sync last succeeded (Unix time).",
                                value=int(last_sync.timestamp()))


def metrics() -> Iterator[Metric]:
    """The ``metrics`` hook (JailsConfig.metrics; contract in bangui/health.py)."""
    yield from fail2ban_metrics()
    yield from archive_metrics()
