"""The fleet as the pages and ``manage.py nodes`` see it: every registered
node (:class:`nodes.models.Node`: its state is the row's, ``is_up()``,
``stale_since()``, ``fail2ban_answers()``, ``banned()``), the counts the
status bar and ``/nodes/`` show, and the node that runs the fleet-wide
schedules (docs/fleet.md).

A node is up while its lease is fresh (held and not expired: its cluster
renews it every few seconds); otherwise it is down, "stale since" its last
heartbeat, and its archived data stays browsable.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from bangui.requestmemo import once_per_request
from nodes.models import Node


def fleet() -> list[Node]:
    """Every registered node, by name (one query a request: the page's node
    filter and the status bar share it)."""
    return once_per_request("nodes.fleet", lambda: list(Node.objects.order_by("name")))


@dataclass(frozen=True)
class FleetSummary:
    up: int
    down: int
    here: bool = True  # this process's host is one of the nodes
    banned: int = 0  # bans the up nodes' fail2bans hold now, as they published

    @property
    def total(self) -> int:
        return self.up + self.down


def summary(nodes: list[Node] | None = None) -> FleetSummary:
    nodes = fleet() if nodes is None else nodes
    now = timezone.now()
    up = [n for n in nodes if n.is_up(now)]
    return FleetSummary(len(up), len(nodes) - len(up),
                        here=any(n.is_local for n in nodes),
                        banned=sum(n.banned(now) or 0 for n in up))


def scope_choices(selected: str = "") -> tuple[list[str], bool]:
    """The node names a page's node filter offers, and whether to show the
    node filter and columns at all: not on a single host (no node but this
    process's registered), unless a node is already chosen."""
    names = [n.name for n in fleet()]
    return names, bool(set(names) - {settings.BANGUI_NODE}) or bool(selected)


def other_nodes() -> tuple[list[Node], bool]:
    """The fleet's nodes other than this host's, and whether this host has
    a fail2ban of its own to show: yes on a single host (no other node) and
    when it is a registered node; no on a web-only host in a fleet."""
    nodes = fleet()
    others = [n for n in nodes if not n.is_local]
    return others, not others or len(others) < len(nodes)


def bar_summary() -> FleetSummary | None:
    """The status bar's "N nodes up, M down", or None on a single host (no
    node but this process's registered)."""
    nodes = fleet()
    if not {n.name for n in nodes} - {settings.BANGUI_NODE}:
        return None
    return summary(nodes)


def coordinator() -> str | None:
    """The node that runs the fleet-wide schedules: the first by name whose
    lease is fresh (a dead one's turn passes to the next within a lease
    time). None when no node is up."""
    return Node.objects.up().order_by("name").values_list("name", flat=True).first()
