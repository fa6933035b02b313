"""What /health/ready and /metrics report of the nodes (bangui/health.py
asks through ``NodesConfig.health_checks`` and ``metrics``): this process's
node's task cluster (its lease and heartbeat) and every registered node."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from nodes.fleet import fleet
from nodes.worker import lease_state


def check_worker() -> dict:
    """/health/ready's "worker": this node's task cluster holds a fresh lease."""
    try:
        state = lease_state()
    except DatabaseError:
        return {"ok": False, "error": "database unavailable"}
    if state is None:
        return {"ok": False, "error": "no task cluster has ever started"}
    age = state.heartbeat_age()
    out = {"ok": state.is_up(), "heartbeat_at": state.heartbeat_at,
           "heartbeat_age_seconds": None if age is None else round(age, 1)}
    if not out["ok"]:
        out["error"] = ("no task cluster is running (lease released)" if not state.holder
                        else "task cluster heartbeat is stale")
    return out


def metrics() -> Iterator[Metric]:
    """This node's worker, then one sample per registered node (docs/fleet.md)."""
    now = timezone.now()
    state = lease_state()
    yield GaugeMetricFamily("bangui_worker_up", "1 when the task cluster holds a fresh lease.",
                            value=int(bool(state and state.is_up(now))))
    age = state.heartbeat_age(now) if state else None
    if age is not None:
        yield GaugeMetricFamily("bangui_worker_heartbeat_age_seconds",
                                "Seconds since the task cluster last renewed its lease.",
                                value=round(age, 1))
    yield from _node_families(now)


def _node_families(now) -> list[Metric]:
    up = GaugeMetricFamily("bangui_node_up", "1 while the node's task cluster renews its "
                           "lease.", labels=["node"])
    age = GaugeMetricFamily("bangui_node_heartbeat_age_seconds",
                            "Seconds since the node's cluster last renewed its lease.",
                            labels=["node"])
    banned = GaugeMetricFamily("bangui_node_jail_banned", "Bans a node's jail holds now, as "
                               "its worker last published (up nodes only).",
                               labels=["node", "jail"])
    failed = GaugeMetricFamily("bangui_node_jail_failed", "Addresses failing now in a node's "
                               "jail, as its worker last published.", labels=["node", "jail"])
    for node in fleet():
        up.add_metric([node.name], int(node.is_up(now)))
        heartbeat_age = node.heartbeat_age(now)
        if heartbeat_age is not None:
            age.add_metric([node.name], round(heartbeat_age, 1))
        if node.fail2ban_answers(now):
            for jail, counts in sorted(node.jail_counts.items()):
                banned.add_metric([node.name, jail], counts.get("banned", 0))
                failed.add_metric([node.name, jail], counts.get("failed", 0))
    return [up, age, banned, failed]
