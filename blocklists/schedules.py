"""When each node imports each blocklist source: decided from the data, by
the node itself (docs/blocklists.md, docs/fleet.md "Blocklists in a fleet").

There is one schedule writer in BanGUI (bangui/schedules.py) and it writes
fixed tasks only; among them ``blocklist-imports``, every minute on every
node's main lane (``blocklists.tasks.import_due``). That task imports,
one after the other, the enabled sources that target this node (:func:`targets`)
and are due (:func:`due`: never run on this node, or its last run here
started ``interval_minutes`` ago). So saving, disabling, deleting or
re-aiming a source, or a node registering or changing labels, needs no
schedule rewrite: the next minute's look sees it. "Import now" queues one
run per target node (:func:`import_now`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone
from django_q.tasks import async_task

from accounts import audit
from blocklists.models import BlocklistSource, ImportRun
from nodes import nodename
from nodes.fleet import fleet

TASK = "blocklists.tasks.import_source"


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


def jail_missing_on(source: BlocklistSource, registered: list | None = None) -> list[str]:
    """The target nodes whose fail2ban, as last published, runs no jail
    named ``source.jail``: an import there fails. A node that has not
    published, or whose fail2ban is down, is not named (nobody knows)."""
    states = fleet() if registered is None else registered
    by_name = {s.name: s for s in states}
    return [name for name in targets(source, states)
            if (node := by_name.get(name)) is not None and node.facts_at
            and node.fail2ban_up and source.jail not in node.jails]


def import_now(source: BlocklistSource, actor: str, by: object = None) -> list[str]:
    """Queue one run of ``source`` to every target node's main lane (a
    download may take minutes: never the command lane, never a web
    request), audited per node as by ``by`` (a request; default ``actor``);
    returns the nodes."""
    nodes = targets(source)
    for node in nodes:
        async_task(TASK, source.pk, actor, task_name=f"blocklist import {source.name} on {node}",
                   cluster=nodename.queue(node))
        audit.record(by or actor, "blocklist.import", target=source.name, detail="queued",
                     node=node)
    return nodes


def due(node: str | None = None, now: datetime | None = None) -> list[BlocklistSource]:
    """The enabled sources ``node`` (default: this one) should import now:
    aimed at it, and never run there or last started there at least
    ``interval_minutes`` ago (a failed run counts: it waits its interval
    too, no retry storm). Oldest first."""
    node = node or settings.BANGUI_NODE
    now = now or timezone.now()
    registered = fleet()
    sources = [s for s in BlocklistSource.objects.filter(enabled=True).order_by("pk")
               if node in targets(s, registered)]
    last = dict(ImportRun.objects.filter(source__in=sources, node=node).order_by()
                .values("source").annotate(started=Max("started_at"))
                .values_list("source", "started"))
    out = []
    for source in sources:
        started = last.get(source.pk)
        if started is None or now - started >= timedelta(minutes=source.interval_minutes):
            out.append(source)
    return sorted(out, key=lambda s: last.get(s.pk) or datetime.min.replace(tzinfo=now.tzinfo))
