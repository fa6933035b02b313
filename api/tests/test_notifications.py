"""GET /api/v1/notifications/: what the rules said, with each channel's
result, a page at a time, for a read token."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from api.tests.conftest import bearer

# By name, not by import: api may not import the notifications app
# (pyproject's import-linter contract), its tests included.
Notification = apps.get_model("notifications", "Notification")
Delivery = apps.get_model("notifications", "Delivery")


def _stored(count: int) -> list[Notification]:
    now = timezone.now()
    made = []
    for i in range(count):
        n = Notification.objects.create(
            rule_name="ssh storm", kind="threshold", severity="warning",
            title=f"{i} bans in 10 min", text=f"{i} bans in the last 10 minutes.",
            facts={"bans": i}, created_at=now - timedelta(minutes=count - i))
        Delivery.objects.create(notification=n, channel_name="ops", result="delivered",
                                attempts=1)
        Delivery.objects.create(notification=n, channel_name="backup", result="failed",
                                attempts=3, detail="gave up after 3 attempts: HTTP 500")
        made.append(n)
    return made


def test_it_pages_the_notifications_newest_first(viewer_user, make_token, client):
    _stored(3)
    response = client.get("/api/v1/notifications/", {"per_page": 2},
                          **bearer(make_token(viewer_user)))
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["pages"], body["per_page"]) == (3, 2, 2)
    assert body["next"].endswith("/api/v1/notifications/?per_page=2&page=2")
    assert body["previous"] is None
    first = body["results"][0]
    assert first["title"] == "2 bans in 10 min" and first["rule"] == "ssh storm"
    assert first["severity"] == "warning" and first["kind"] == "threshold"
    assert first["text"] == "2 bans in the last 10 minutes." and first["facts"] == {"bans": 2}
    assert first["deliveries"] == [
        {"channel": "backup", "result": "failed", "attempts": 3,
         "detail": "gave up after 3 attempts: HTTP 500",
         "updated_at": first["deliveries"][0]["updated_at"]},
        {"channel": "ops", "result": "delivered", "attempts": 1, "detail": "",
         "updated_at": first["deliveries"][1]["updated_at"]}]
    last = client.get("/api/v1/notifications/", {"per_page": 2, "page": 2},
                      **bearer(make_token(viewer_user))).json()
    assert [r["title"] for r in last["results"]] == ["0 bans in 10 min"]


def test_it_filters_by_kind_severity_and_unread(viewer_user, make_token, client):
    made = _stored(2)
    Notification.objects.filter(pk=made[0].pk).update(read=True)
    Notification.objects.create(title="BanGUI test message", text="It works.")
    secret = make_token(viewer_user)

    def titles(**query):
        body = client.get("/api/v1/notifications/", query, **bearer(secret)).json()
        return [r["title"] for r in body["results"]]

    assert titles(kind="test") == ["BanGUI test message"]
    assert titles(unread="true", kind="threshold") == ["1 bans in 10 min"]
    assert titles(severity="warning") == ["1 bans in 10 min", "0 bans in 10 min"]
    bad = client.get("/api/v1/notifications/", {"kind": "nonsense"}, **bearer(secret))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"
    assert "kind: one of test, threshold" in bad.json()["detail"]


def test_it_needs_credentials(setup_done, client):
    response = client.get("/api/v1/notifications/")
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
