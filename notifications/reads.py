"""What the JSON API reads of notifications (``GET /api/v1/notifications/``).

Offered as the ``notifications_page`` hook (NotificationsConfig): the API
sits beside this app, not above it (import-linter: no app imports
notifications), so it asks through bangui.hooks as the pages ask the
allow-list."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch

from notifications.models import Delivery, Notification, Rule, Severity


def _delivery(d: Delivery) -> dict:
    return {"channel": d.channel_name, "result": d.result, "detail": d.detail,
            "attempts": d.attempts, "updated_at": d.updated_at.isoformat()}


def row(n: Notification) -> dict:
    return {"id": n.pk, "created_at": n.created_at.isoformat(), "rule": n.rule_name or None,
            "kind": n.kind or None, "severity": n.severity, "title": n.title, "text": n.text,
            "suppressed": n.suppressed, "read": n.read, "facts": n.facts,
            "deliveries": [_delivery(d) for d in n.deliveries.all()]}


def page(*, number: int, per_page: int, unread: bool = False, kind: str | None = None,
         severity: str | None = None) -> tuple[Page, list[dict]]:
    """One page of stored notifications, newest first, with each channel's
    result; ``kind`` "test" selects channel tests. ValueError names a bad
    filter."""
    if kind and kind != "test" and kind not in Rule.Kind.values:
        raise ValueError(f"kind: one of test, {', '.join(Rule.Kind.values)}")
    if severity and severity not in Severity.values:
        raise ValueError(f"severity: one of {', '.join(Severity.values)}")
    rows = Notification.objects.prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.order_by("channel_name", "id")))
    if unread:
        rows = rows.filter(read=False)
    if kind:
        rows = rows.filter(kind="" if kind == "test" else kind)
    if severity:
        rows = rows.filter(severity=severity)
    current = Paginator(rows.order_by("-created_at", "-id"), per_page).get_page(number)
    return current, [row(n) for n in current.object_list]
