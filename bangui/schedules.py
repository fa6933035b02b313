"""Every recurring task BanGUI runs, declared once, in code.

:func:`sync_schedules` writes these into django-q2's ``Schedule`` table
(``update_or_create`` by name) after every ``migrate`` (a ``post_migrate``
receiver, see ``bangui/apps.py``) and from ``manage.py sync_schedules``.
Rows whose name starts with :data:`PREFIX` but are no longer declared here
are deleted; schedules an admin adds by hand (other names) are left alone.

Every schedule belongs to one node (docs/fleet.md): it is stored as
``bangui:<task>@<node>`` with ``cluster`` set to that node's queue, so only
that node's cluster runs it. A node's cluster writes its own rows when it
starts (``manage.py qcluster``); ``migrate`` and ``manage.py
sync_schedules`` write this process's node's (``BANGUI_NODE``). Pruning
touches only the node's own rows (the pre-fleet rows without ``@`` went in
migration ``bangui 0005``).

To add a task: append a :class:`Task` to :data:`SCHEDULES`. Task bodies live
in ``<app>/tasks.py``, take only keyword arguments and are safe to run twice.
django-q2 runs schedules at most once a minute.

Some schedules exist only while a setting asks for them (:func:`declared_schedules`,
read at sync time): ``geoip-update`` while a GeoIP source is configured.
Since undeclared ``bangui:`` rows are deleted, unsetting the setting and
syncing again (a restart of the web unit or container does) removes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from nodes import nodename
from nodes.fleet import coordinator

PREFIX = "bangui:"

# django-q2's Schedule.schedule_type values (kept here as text so this module
# needs no model import and works with the historical model in post_migrate).
MINUTES = "I"
HOURLY = "H"
DAILY = "D"
WEEKLY = "W"


@dataclass(frozen=True)
class Task:
    name: str  # stored as PREFIX + name
    func: str  # dotted path of the task function
    schedule_type: str = MINUTES
    minutes: int | None = None  # for MINUTES
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Work on the shared database, not on the node's fail2ban or memory: every
    # node has the schedule, one node (the coordinator) runs it.
    fleet_wide: bool = False
    # Short work that must not wait behind a download: queued to the node's
    # command lane (the archive sync, beside the tick), else its main lane.
    command_lane: bool = False

    def schedule_name_for(self, node: str) -> str:
        return f"{PREFIX}{self.name}@{node}"

    @property
    def schedule_name(self) -> str:
        """The row of this process's node (``BANGUI_NODE``)."""
        return self.schedule_name_for(settings.BANGUI_NODE)


def _every_minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


SCHEDULES: tuple[Task, ...] = (
    Task("archive-sync", "jails.tasks.sync_archive",
         minutes=_every_minutes(settings.ARCHIVE_SYNC_SECONDS), command_lane=True),
    Task("archive-purge", "jails.tasks.purge_archive", schedule_type=DAILY, fleet_wide=True),
    Task("geo-flush", "geo.tasks.flush", minutes=1),
    # Each node imports the blocklist sources due on it (decided from the
    # sources and its import log: blocklists/schedules.py), on its
    # main lane: a download may take minutes.
    Task("blocklist-imports", "blocklists.tasks.import_due", minutes=1),
    Task("geo-cleanup", "geo.tasks.cleanup", schedule_type=DAILY, fleet_wide=True),
    Task("geo-reresolve", "geo.tasks.reresolve", schedule_type=HOURLY, fleet_wide=True),
    # Archive rows stored while geo could not place them get their country
    # (jails.archive.sync.fill_missing_countries: the last week, bounded).
    Task("archive-countries", "jails.tasks.fill_countries", schedule_type=HOURLY,
         fleet_wide=True),
    # Notification rules read the shared database: one node sends each message.
    Task("notify", "notifications.tasks.evaluate_rules", minutes=1, fleet_wide=True),
)

# Daily while BANGUI_MAXMIND_LICENSE_KEY, BANGUI_GEOIP_URL or
# BANGUI_GEOIP_ASN_URL is set (docs/geo.md); MaxMind updates GeoLite2 twice a
# week, so a day late at most. Its body lives with the download code.
GEOIP_UPDATE = Task("geoip-update", "geo.update.scheduled_update", schedule_type=DAILY)


FLEET_WIDE = "bangui.schedules.run_fleet_wide"


def run_fleet_wide(task: str, **kwargs: Any) -> Any:
    """The body of a fleet-wide schedule: run ``task`` only on the
    coordinator node (nodes.fleet.coordinator: the first node by name whose
    lease is fresh), so ten nodes do not purge the archive ten times. With
    no node up (a lone ``manage.py``), it runs."""
    chosen = coordinator()
    if chosen is not None and chosen != settings.BANGUI_NODE:
        return f"skipped: node {chosen} runs the fleet-wide tasks"
    return import_string(task)(**kwargs)


def declared_schedules() -> tuple[Task, ...]:
    """:data:`SCHEDULES` plus the schedules today's settings turn on."""
    conditional = []
    if settings.MAXMIND_LICENSE_KEY or settings.GEOIP_URL or settings.GEOIP_ASN_URL:
        conditional.append(GEOIP_UPDATE)
    return (*SCHEDULES, *conditional)


@dataclass(frozen=True)
class SyncReport:
    created: list[str]
    updated: list[str]
    deleted: list[str]
    unchanged: list[str]

    def __str__(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.deleted)} deleted, {len(self.unchanged)} unchanged")


def sync_schedules(schedule_model=None, declared: tuple[Task, ...] | None = None, *,
                   node: str | None = None) -> SyncReport:
    """Make a node's django-q2 schedules (default: ``BANGUI_NODE``'s) match
    :func:`declared_schedules` (or ``declared``). Idempotent: a second run
    changes nothing (``next_run`` is only set on creation)."""
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    declared = declared_schedules() if declared is None else declared
    node = node or settings.BANGUI_NODE
    names = [t.schedule_name_for(node) for t in declared]
    created, updated, unchanged = [], [], []
    with transaction.atomic():
        for task, name in zip(declared, names, strict=True):
            func, kwargs = task.func, task.kwargs
            if task.fleet_wide:
                func, kwargs = FLEET_WIDE, {"task": task.func, **task.kwargs}
            wanted = {
                "func": func,
                "kwargs": repr(kwargs) if kwargs else None,
                "schedule_type": task.schedule_type,
                "minutes": task.minutes if task.schedule_type == MINUTES else None,
                "repeats": -1,
                "cron": None,
                "cluster": (nodename.command_queue(node) if task.command_lane
                            else nodename.queue(node)),
            }
            row, was_created = schedule_model.objects.get_or_create(
                name=name, defaults={**wanted, "next_run": timezone.now()})
            if was_created:
                created.append(name)
                continue
            changed = [k for k, v in wanted.items() if getattr(row, k) != v]
            if changed:
                for key in changed:
                    setattr(row, key, wanted[key])
                row.save(update_fields=changed)
                updated.append(name)
            else:
                unchanged.append(name)
        stale = (schedule_model.objects.filter(name__startswith=PREFIX,
                                               name__endswith=f"@{node}")
                 .exclude(name__in=names))
        deleted = list(stale.values_list("name", flat=True))
        stale.delete()
    return SyncReport(created, updated, deleted, unchanged)


def sync_after_migrate(sender, apps=None, **kwargs) -> None:
    """post_migrate receiver: runs once per migrate (when django_q's app is
    signalled), with the Schedule model as the migrations left it."""
    if getattr(sender, "label", None) != "django_q":
        return
    try:
        model = apps.get_model("django_q", "Schedule") if apps else None
    except LookupError:  # a partial migrate that stopped before django_q's tables
        return
    sync_schedules(model)
