"""The Notifications, channel and rule pages: read by everyone signed in,
changed by operators, audited; a channel's URL never rendered back."""

from __future__ import annotations

import pytest

from accounts.models import AuditEntry
from notifications import evaluate, views
from notifications.models import Channel, Delivery, Notification, Rule

pytestmark = pytest.mark.django_db


def _channel(name="ops", url="json://hooks.example.com/secretpath") -> Channel:
    channel = Channel(name=name)
    channel.set_url(url)
    channel.save()
    return channel


def test_it_lists_notifications_with_each_channels_result(viewer_client):
    n = Notification.objects.create(title="Ban spike on web-1", text="42 bans", kind="spike",
                                    rule_name="spikes", severity="warning")
    Delivery.objects.create(notification=n, channel_name="phone", result="delivered",
                            attempts=1)
    Delivery.objects.create(notification=n, channel_name="hook", result="failed", attempts=3,
                            detail="gave up after 3 attempts: HTTP 500")
    response = viewer_client.get("/notifications/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ban spike on web-1" in body and "gave up after 3 attempts: HTTP 500" in body
    assert "(3 attempts)" in body and "delivered" in body
    assert "Notifications</a>" in body  # the nav link
    assert response["Vary"].count("HX-Request")


def test_it_answers_htmx_with_the_rows_only(viewer_client):
    Notification.objects.create(title="t", text="x")
    response = viewer_client.get("/notifications/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="notification-rows"' in body and "<html" not in body


def test_it_says_so_when_there_is_nothing(viewer_client):
    assert "No notifications" in viewer_client.get("/notifications/").content.decode()


def test_an_operator_marks_read(operator_client, viewer_client):
    a = Notification.objects.create(title="a", text="x")
    b = Notification.objects.create(title="b", text="x")
    assert viewer_client.post("/notifications/read/").status_code == 403
    assert "Mark read" not in viewer_client.get("/notifications/").content.decode()
    operator_client.post("/notifications/read/", {"id": [a.pk]})
    assert Notification.objects.get(pk=a.pk).read and not Notification.objects.get(pk=b.pk).read
    operator_client.post("/notifications/read/")
    assert not Notification.objects.filter(read=False).exists()


def test_a_viewer_reads_channels_and_rules_but_changes_nothing(viewer_client):
    channel = _channel()
    assert viewer_client.get("/notifications/channels/").status_code == 200
    assert viewer_client.get("/notifications/rules/").status_code == 200
    assert viewer_client.get(f"/notifications/channels/{channel.pk}/").status_code == 403
    assert viewer_client.post("/notifications/channels/new/", {"name": "x"}).status_code == 403
    assert viewer_client.post(f"/notifications/channels/{channel.pk}/",
                              {"name": "x"}).status_code == 403
    assert viewer_client.post(f"/notifications/channels/{channel.pk}/delete/").status_code == 403
    assert viewer_client.post(f"/notifications/channels/{channel.pk}/test/").status_code == 403
    assert viewer_client.post("/notifications/rules/new/", {"name": "x"}).status_code == 403
    assert "Send test" not in viewer_client.get("/notifications/channels/").content.decode()


def test_an_operator_adds_a_channel_whose_url_is_never_shown(operator_client, settings):
    settings.NOTIFY_ALLOW_PRIVATE = True
    response = operator_client.post("/notifications/channels/new/", {
        "name": "phone", "url": "ntfy://10.0.0.5/topicsecret", "enabled": "on"})
    assert response.status_code == 302
    channel = Channel.objects.get(name="phone")
    assert channel.url == "ntfy://10.0.0.5/topicsecret"
    for path in ("/notifications/channels/", f"/notifications/channels/{channel.pk}/"):
        assert "topicsecret" not in operator_client.get(path).content.decode()
    assert "Set. Leave empty" in operator_client.get(
        f"/notifications/channels/{channel.pk}/").content.decode()
    entry = AuditEntry.objects.get(action="notify.channel.add")
    assert entry.target == "phone" and "topicsecret" not in entry.detail


def test_an_empty_url_on_edit_keeps_the_stored_one(operator_client):
    channel = _channel()
    operator_client.post(f"/notifications/channels/{channel.pk}/",
                         {"name": "ops2", "url": "", "enabled": "on"})
    channel.refresh_from_db()
    assert channel.name == "ops2" and channel.url == "json://hooks.example.com/secretpath"
    assert AuditEntry.objects.filter(action="notify.channel.change").exists()


def test_it_refuses_a_private_channel_with_a_message(operator_client, settings):
    settings.NOTIFY_ALLOW_PRIVATE = False
    response = operator_client.post("/notifications/channels/new/", {
        "name": "lan", "url": "json://192.168.1.10/x"})
    assert response.status_code == 400
    assert "BANGUI_NOTIFY_ALLOW_PRIVATE" in response.content.decode()
    assert not Channel.objects.exists()


def test_send_test_queues_to_the_worker_and_the_page_polls_the_result(
        operator_client, receiver, monkeypatch):
    channel = _channel(url=receiver.url())
    queued = []
    monkeypatch.setattr(views, "async_task", lambda *a, **kw: queued.append((a, kw)))
    response = operator_client.post(f"/notifications/channels/{channel.pk}/test/",
                                    HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "sending…" in response.content.decode() and not receiver.requests
    [(args, kwargs)] = queued
    assert kwargs["cluster"].startswith("node-")
    assert args[0] == "notifications.tasks.send_test"
    delivery = Delivery.objects.get()
    poll = f"/notifications/deliveries/{delivery.pk}/"
    assert operator_client.get(poll, HTTP_HX_REQUEST="true").status_code == 200
    evaluate.send_one(*args[1:])  # what the worker does
    answer = operator_client.get(poll, HTTP_HX_REQUEST="true")
    assert answer.status_code == 286 and "delivered" in answer.content.decode()
    assert len(receiver.requests) == 1
    assert AuditEntry.objects.filter(action="notify.channel.test").exists()


def test_an_operator_adds_and_removes_a_rule(operator_client):
    channel = _channel()
    response = operator_client.post("/notifications/rules/new/", {
        "name": "spikes", "kind": "spike", "node": "", "threshold": 10, "percent": 200,
        "window_minutes": 10, "watched": "", "severity": "warning", "quiet_minutes": 30,
        "channels": [channel.pk], "enabled": "on"})
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert list(rule.channels.all()) == [channel]
    assert "spikes" in operator_client.get("/notifications/rules/").content.decode()
    operator_client.post(f"/notifications/rules/{rule.pk}/delete/")
    assert not Rule.objects.exists()
    assert list(AuditEntry.objects.filter(action__startswith="notify.rule")
                .values_list("action", flat=True).order_by("id")) == [
        "notify.rule.add", "notify.rule.remove"]


def test_a_watched_rule_needs_valid_addresses(operator_client):
    response = operator_client.post("/notifications/rules/new/", {
        "name": "w", "kind": "watched", "threshold": 1, "percent": 100, "window_minutes": 10,
        "watched": "203.0.113.0/24\nnot-an-ip", "severity": "info", "quiet_minutes": 0})
    assert response.status_code == 400
    assert "&#x27;not-an-ip&#x27; is not an address, a network, a country code or an ASN" \
        in response.content.decode()


def test_a_watched_rule_takes_countries_and_asns_and_refuses_unknown_codes(operator_client):
    fields = {"name": "w", "kind": "watched", "threshold": 1, "percent": 100,
              "window_minutes": 10, "severity": "info", "quiet_minutes": 0}
    response = operator_client.post("/notifications/rules/new/",
                                    {**fields, "watched": "203.0.113.0/24\nQQ"})
    assert response.status_code == 400
    assert "&#x27;QQ&#x27; is not a country code" in response.content.decode()
    response = operator_client.post("/notifications/rules/new/",
                                    {**fields, "watched": "cn  # China\nAS64500"})
    assert response.status_code == 302
    assert Rule.objects.get().watched == "cn  # China\nAS64500"


def test_a_digest_rule_keeps_its_period(operator_client):
    response = operator_client.post("/notifications/rules/new/", {
        "name": "weekly", "kind": "digest", "threshold": 1, "percent": 100,
        "window_minutes": 10, "severity": "info", "quiet_minutes": 0, "period": "weekly"})
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.kind, rule.period) == ("digest", "weekly")
    assert "a daily or weekly digest: weekly (Monday to Sunday)" in \
        operator_client.get("/notifications/rules/").content.decode()


def test_a_rule_names_a_node_by_its_rules(operator_client):
    response = operator_client.post("/notifications/rules/new/", {
        "name": "n", "kind": "node_down", "node": "Bad Name!", "threshold": 1, "percent": 100,
        "window_minutes": 10, "severity": "critical", "quiet_minutes": 0})
    assert response.status_code == 400 and not Rule.objects.exists()
