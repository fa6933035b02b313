"""Task bodies (bangui/schedules.py): keyword arguments only, safe twice."""

from __future__ import annotations

from django.conf import settings

from nodes.fleet import coordinator
from notifications import evaluate


def evaluate_rules() -> str:
    """Every minute, on the coordinator: rules looked at, messages sent."""
    return evaluate.run()


def tick() -> None:
    """The node tick's hook (nodes/worker.py): the coordinator looks at the
    rules every few seconds; the other nodes do nothing."""
    chosen = coordinator()
    if chosen is None or chosen == settings.BANGUI_NODE:
        evaluate.tick()


def send_pending() -> str:
    """Queued by the tick to the coordinator's main lane."""
    return f"{evaluate.send_pending()} deliveries sent"


def send_test(delivery_id: int) -> str:
    """Queued by a channel's "Send test" button."""
    return evaluate.send_one(delivery_id)
