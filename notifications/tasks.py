"""Task bodies (bangui/schedules.py): keyword arguments only, safe twice."""

from __future__ import annotations

from notifications import evaluate


def evaluate_rules() -> str:
    """Every minute, on the coordinator: rules looked at, messages sent."""
    return evaluate.run()


def send_test(delivery_id: int) -> str:
    """Queued by a channel's "Send test" button."""
    return evaluate.send_one(delivery_id)
