"""The fleet as the pages and ``manage.py nodes`` see it: every registered
node with its heartbeat and what its worker last published (docs/fleet.md).

A node is up while its lease is fresh (held and not expired: its cluster
renews it every few seconds); otherwise it is down, "stale since" its last
heartbeat, and its archived data stays browsable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from bangui.models import Node


@dataclass(frozen=True)
class NodeState:
    name: str
    labels: list[str]
    up: bool
    holder: str
    heartbeat_at: datetime | None
    heartbeat_age: float | None  # seconds
    fail2ban_up: bool
    fail2ban_version: str
    jails: list[str]
    jail_counts: dict[str, dict[str, int]]
    jail_settings: dict[str, dict]
    filters: list[str]
    archive_synced_at: datetime | None
    archive_lag: float | None  # seconds since the last archive sync
    local: bool  # this process's BANGUI_NODE

    @property
    def stale_since(self) -> datetime | None:
        return None if self.up else self.heartbeat_at

    @property
    def banned(self) -> int | None:
        """Bans its fail2ban holds now, as last published (None: not up)."""
        if not self.fail2ban_up:
            return None
        return sum(c.get("banned", 0) for c in self.jail_counts.values())


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)


def state_of(row: Node, now: datetime | None = None) -> NodeState:
    now = now or timezone.now()
    up = row.is_up(now)
    return NodeState(
        name=row.name, labels=list(row.labels or []), up=up, holder=row.holder,
        heartbeat_at=row.heartbeat_at, heartbeat_age=row.heartbeat_age(now),
        # What a down node last said about its fail2ban is history, not state.
        fail2ban_up=up and row.fail2ban_up, fail2ban_version=row.fail2ban_version,
        jails=list(row.jails or []), jail_counts=dict(row.jail_counts or {}),
        jail_settings=dict(row.jail_settings or {}),
        filters=list(row.filters or []),
        archive_synced_at=row.archive_synced_at,
        archive_lag=_age(now, row.archive_synced_at), local=row.name == settings.BANGUI_NODE,
    )


def fleet() -> list[NodeState]:
    """Every registered node, by name (one query)."""
    now = timezone.now()
    return [state_of(row, now) for row in Node.objects.order_by("name")]


@dataclass(frozen=True)
class FleetSummary:
    up: int
    down: int
    here: bool = True  # this process's host is one of the nodes
    banned: int = 0  # bans the up nodes' fail2bans hold now, as they published


    @property
    def total(self) -> int:
        return self.up + self.down


def summary(states: list[NodeState] | None = None) -> FleetSummary:
    states = fleet() if states is None else states
    up = sum(1 for s in states if s.up)
    return FleetSummary(up, len(states) - up,
                        here=any(s.name == settings.BANGUI_NODE for s in states),
                        banned=sum(s.banned or 0 for s in states if s.up))


def scope_choices(selected: str = "") -> tuple[list[str], bool]:
    """The node names a page's node filter offers, and whether to show the
    node filter and columns at all: not on a single host (no node but this
    process's registered), unless a node is already chosen."""
    names = list(Node.objects.order_by("name").values_list("name", flat=True))
    return names, bool(set(names) - {settings.BANGUI_NODE}) or bool(selected)


def other_nodes() -> tuple[list[NodeState], bool]:
    """The fleet's nodes other than this host's, and whether this host has
    a fail2ban of its own to show: yes on a single host (no other node) and
    when it is a registered node; no on a web-only host in a fleet."""
    states = fleet()
    others = [s for s in states if s.name != settings.BANGUI_NODE]
    return others, not others or len(others) < len(states)


def bar_summary() -> FleetSummary | None:
    """The status bar's "N nodes up, M down", or None on a single host (no
    node but this process's registered)."""
    states = fleet()
    if not {s.name for s in states} - {settings.BANGUI_NODE}:
        return None
    return summary(states)


def coordinator() -> str | None:
    """The node that runs the fleet-wide schedules: the first by name whose
    lease is fresh (a dead one's turn passes to the next within a lease
    time). None when no node is up."""
    return Node.objects.up().order_by("name").values_list("name", flat=True).first()
