"""django-q2 schedules of the blocklist sources: one per source and target
node, kept in step with the sources and the fleet.

Named ``blocklist:<id>@<node>`` (not ``bangui:``: those are the fixed
schedules that ``bangui/schedules.py`` owns and prunes), run by that node's
cluster (``Schedule.cluster``): each target node downloads the list and
bans it into its own fail2ban (docs/fleet.md, "Blocklists in a fleet").
Enabled sources repeat forever; a disabled source's schedules are paused
(``repeats = 0``, which django-q2's scheduler skips); a deleted source's, or
a node's that is no longer a target, are removed. Idempotent.

Who writes them: saving a source (its targets now), ``migrate`` (every
source: :func:`sync_all`), and each node's cluster when it starts
(:func:`sync_node`: a node that registered after a source aimed at "every
node" or its label gets its schedules).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from bangui import nodename
from bangui.nodes import fleet
from jails.blocklists.models import BlocklistSource

PREFIX = "blocklist:"
TASK = "jails.blocklists.tasks.import_source"


def name_for(source_pk: int, node: str) -> str:
    return f"{PREFIX}{source_pk}@{node}"


def targets(source: BlocklistSource, registered: list | None = None) -> list[str]:
    """The nodes ``source`` is imported on, by name: the named nodes (as
    given, registered or not); the registered nodes carrying its label; or
    every registered node — this process's node when none has registered
    yet (a single host before its worker first started)."""
    if source.target_nodes and not source.target_label:
        return sorted(dict.fromkeys(source.target_nodes))
    states = fleet() if registered is None else registered
    if source.target_label:
        return sorted(s.name for s in states if source.target_label in s.labels)
    return sorted(s.name for s in states) or [settings.BANGUI_NODE]


def _write(source: BlocklistSource, node: str) -> Schedule:
    wanted = {
        "func": TASK,
        "args": repr((source.pk,)),
        "schedule_type": Schedule.MINUTES,
        "minutes": source.interval_minutes,
        "repeats": -1 if source.enabled else 0,
        "cluster": nodename.queue(node),
    }
    schedule, created = Schedule.objects.get_or_create(
        name=name_for(source.pk, node), defaults={**wanted, "next_run": timezone.now()})
    if not created and any(getattr(schedule, k) != v for k, v in wanted.items()):
        for k, v in wanted.items():
            setattr(schedule, k, v)
        schedule.save()
    return schedule


def sync_source(source: BlocklistSource, registered: list | None = None) -> list[Schedule]:
    """The source's schedules: one per target node; others removed
    (including a pre-fleet ``blocklist:<id>``)."""
    written = [_write(source, node) for node in targets(source, registered)]
    (Schedule.objects.filter(name__startswith=f"{PREFIX}{source.pk}@")
     .exclude(name__in=[s.name for s in written]).delete())
    Schedule.objects.filter(name=f"{PREFIX}{source.pk}").delete()
    return written


def import_now(source: BlocklistSource, actor: str) -> list[str]:
    """Queue one run of ``source`` to every target node's main lane (a
    download may take minutes: never the command lane, never a web
    request); returns the nodes."""
    from django_q.tasks import async_task

    nodes = targets(source)
    for node in nodes:
        async_task(TASK, source.pk, actor, task_name=f"blocklist import {source.name} on {node}",
                   cluster=nodename.queue(node))
    return nodes


def remove_source(source_pk: int) -> None:
    Schedule.objects.filter(name__startswith=f"{PREFIX}{source_pk}@").delete()
    Schedule.objects.filter(name=f"{PREFIX}{source_pk}").delete()


def sync_all() -> None:
    """Bring every source's schedules in line; drop orphans (sources gone,
    pre-fleet names)."""
    registered = fleet()
    keep = set()
    for source in BlocklistSource.objects.all():
        keep.update(s.name for s in sync_source(source, registered))
    Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=keep).delete()


def sync_node(node: str | None = None) -> None:
    """This node's blocklist schedules, as its cluster starts: written for
    every source that targets it, removed for those that no longer do."""
    node = node or settings.BANGUI_NODE
    registered = fleet()
    keep = set()
    for source in BlocklistSource.objects.all():
        if node in targets(source, registered):
            keep.add(_write(source, node).name)
    (Schedule.objects.filter(name__startswith=PREFIX, name__endswith=f"@{node}")
     .exclude(name__in=keep).delete())
