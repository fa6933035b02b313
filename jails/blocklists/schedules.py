"""One django-q2 schedule per blocklist source, kept in step with the sources.

Named ``blocklist:<id>`` (not ``bangui:``: those are the fixed schedules that
``bangui/schedules.py`` owns and prunes). Enabled sources repeat forever; a
disabled source's schedule is paused (``repeats = 0``, which django-q2's
scheduler skips); a deleted source's schedule is removed. Idempotent.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from bangui import nodename
from jails.blocklists.models import BlocklistSource

PREFIX = "blocklist:"
TASK = "jails.blocklists.tasks.import_source"


def sync_source(source: BlocklistSource) -> Schedule:
    wanted = {
        "func": TASK,
        "args": repr((source.pk,)),
        "schedule_type": Schedule.MINUTES,
        "minutes": source.interval_minutes,
        "repeats": -1 if source.enabled else 0,
        # Run by this process's node's cluster (sources aimed at other
        # nodes come with the fleet's targets, docs/fleet.md).
        "cluster": nodename.queue(settings.BANGUI_NODE),
    }
    schedule, created = Schedule.objects.get_or_create(
        name=source.schedule_name, defaults={**wanted, "next_run": timezone.now()})
    if not created and any(getattr(schedule, k) != v for k, v in wanted.items()):
        for k, v in wanted.items():
            setattr(schedule, k, v)
        schedule.save()
    return schedule


def remove_source(source_pk: int) -> None:
    Schedule.objects.filter(name=f"{PREFIX}{source_pk}").delete()


def sync_all() -> None:
    """Bring every source's schedule in line; drop orphans."""
    keep = set()
    for source in BlocklistSource.objects.all():
        keep.add(sync_source(source).name)
    Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=keep).delete()
