"""Shared bans: a node applies other nodes' bans that a rule shares with it
(docs/fleet.md, "Shared bans").

Run by each node's worker on its tick (``jails.tasks.node_tick``), right
after its archive sync: it reads the shared archive for bans that other
nodes' fail2bans made since it last looked, keeps those a
:class:`SharedBanRule` shares from their node to this one, and bans them
here into the provisioned ``shared-bans`` jail, archived with origin
"shared" and ``shared_from`` the source node.

Never a loop: rows with origin "shared" are never sources, nor are this
node's own rows. Never twice: an address that already has a shared row here
from that ban's time on is skipped. The look-back overlaps by
:data:`OVERLAP`, so a row another node commits late (its transaction took
its id and time earlier) is still seen.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jails.archive import sync as archive
from jails.constants import MANUAL_MATCH_SLACK, SHARED_JAIL, Origin
from jails.fail2ban import Fail2banError
from jails.fleet.models import SharedBanRule, SharedBanState
from jails.live import link
from jails.models import BanEvent
from nodes.models import Node

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=60)
FIRST_LOOK = timedelta(minutes=10)  # a node new to sharing starts this far back
MAX_PER_RUN = 5000


def _labels() -> dict[str, set[str]]:
    return {name: set(labels or []) for name, labels in
            Node.objects.values_list("name", "labels")}


def _rules_for(node: str, labels: dict[str, set[str]]) -> list[SharedBanRule]:
    mine = labels.get(node, set())
    return [r for r in SharedBanRule.objects.filter(enabled=True)
            if not r.target_label or r.target_label in mine]


def candidates(node: str | None = None) -> list[BanEvent] | None:
    """Other nodes' bans a rule shares with ``node`` (default: this one),
    archived since it last looked; oldest first, at most MAX_PER_RUN. None
    when no rule shares anything with it."""
    node = node or settings.BANGUI_NODE
    labels = _labels()
    rules = _rules_for(node, labels)
    if not rules:
        return None
    state = SharedBanState.objects.filter(pk=node).first()
    since = (state.checked_through - OVERLAP) if state else timezone.now() - FIRST_LOOK
    rows = (BanEvent.objects.filter(created_at__gte=since, jail__in={r.jail for r in rules})
            .exclude(node=node).exclude(origin=Origin.SHARED)
            .order_by("created_at", "id").defer("matches")[:MAX_PER_RUN])
    out = []
    for row in rows:
        source = labels.get(row.node, set())
        if any(r.jail == row.jail and (not r.source_label or r.source_label in source)
               for r in rules):
            out.append(row)
    return out


def apply(node: str | None = None) -> int:
    """Ban here what the rules share with this node; returns how many were
    newly banned. Moves this node's look-back mark only when fail2ban took
    them (a fail2ban that is down keeps them for the next tick)."""
    node = node or settings.BANGUI_NODE
    started = timezone.now()
    rows = candidates(node)
    if rows is None:
        return 0  # no rule for this node: nothing to look at, nothing to write
    banned = 0
    if rows:
        client = link.client()
        done: set[str] = set()
        for row in rows:
            if row.ip in done or BanEvent.objects.filter(
                    node=node, ip=row.ip, origin=Origin.SHARED,
                    banned_at__gte=row.banned_at - MANUAL_MATCH_SLACK).exists():
                continue
            try:
                banned += client.ban(SHARED_JAIL, [row.ip])
            except Fail2banError as exc:
                log.warning("shared bans: fail2ban refused %s: %s", row.ip, exc)
                return banned  # the mark stays: the next tick tries again
            event = archive.record_manual(row.ip, SHARED_JAIL, None, origin=Origin.SHARED,
                                          client=client)
            BanEvent.objects.filter(pk=event.pk).update(shared_from=row.node)
            done.add(row.ip)
        log.info("shared bans: %d applied on %s", banned, node)
    SharedBanState.objects.update_or_create(pk=node, defaults={"checked_through": started})
    return banned
