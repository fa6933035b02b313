"""The minute's look: rules over the archive, the nodes and the audit trail;
one message per channel per trigger, the quiet period, no storms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import audit
from blocklists.models import BlocklistSource, ImportRun
from jails.models import BanEvent
from nodes.models import Node
from notifications import evaluate
from notifications.models import Channel, Delivery, Notification, Rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(receiver):
    """Two channels on the receiver: apprise's json:// and the signed webhook."""
    made = []
    for name, url in (("json", receiver.url("json", "/apprise")),
                      ("webhook", f"bangui+http://127.0.0.1:{receiver.port}/signed?secret=k")):
        channel = Channel(name=name)
        channel.set_url(url)
        channel.save()
        made.append(channel)
    return made


def _rule(channels, **fields) -> Rule:
    fields.setdefault("created_at", timezone.now() - timedelta(hours=1))
    rule = Rule.objects.create(**fields)
    rule.channels.set(channels)
    return rule


def _bans(count: int, at, node: str = "web-1", jail: str = "sshd", first: int = 1,
          **fields) -> list[BanEvent]:
    return [BanEvent.objects.create(node=node, jail=jail, ip=f"198.51.{first + i // 250}."
                                    f"{1 + i % 250}", banned_at=at - timedelta(seconds=i),
                                    bantime=600, **fields) for i in range(count)]


def _run(now, no_sleep) -> list[Notification]:
    stored = evaluate.check_rules(now)
    evaluate.send_pending(sleep=no_sleep[0])
    return stored


def test_a_spike_sends_exactly_one_message_per_channel(channels, receiver, no_sleep):
    now = timezone.now()
    _rule(channels, name="spikes", kind="spike", threshold=5, percent=200, window_minutes=10)
    _bans(40, now - timedelta(minutes=1))
    _bans(3, now - timedelta(minutes=15), first=100)
    [notification] = _run(now, no_sleep)
    assert sorted(r.path for r in receiver.requests) == ["/apprise", "/signed"]
    assert "40 bans" in notification.text and "3 before" in notification.text
    assert set(notification.deliveries.values_list("result", flat=True)) == {"delivered"}
    signed = next(r for r in receiver.requests if r.path == "/signed").json()
    assert signed["rule"] == "spikes" and signed["kind"] == "spike"
    assert signed["facts"] == {"bans": 40, "previous": 3, "window_minutes": 10}


def test_the_quiet_period_holds_the_next_and_counts_it(channels, receiver, no_sleep):
    now = timezone.now()
    _rule(channels, name="many", kind="threshold", threshold=10, window_minutes=10,
          quiet_minutes=30)
    _bans(20, now)
    _run(now, no_sleep)
    assert len(receiver.requests) == 2
    held = _run(now + timedelta(minutes=1), no_sleep)
    assert len(receiver.requests) == 2  # nothing sent
    assert set(held[0].deliveries.values_list("result", flat=True)) == {"skipped_quiet"}
    later = now + timedelta(minutes=31)
    _bans(20, later, first=50)
    [sent] = _run(later, no_sleep)
    assert len(receiver.requests) == 4
    assert sent.suppressed == 1 and "1 more trigger" in sent.text
    assert "1 more trigger" in receiver.requests[-1].body.decode()


def test_below_the_threshold_nothing_is_said(channels, receiver, no_sleep):
    now = timezone.now()
    _rule(channels, name="many", kind="threshold", threshold=10, window_minutes=10)
    _bans(10, now)
    assert _run(now, no_sleep) == [] and not receiver.requests


def test_a_watched_network_banned_makes_one_message(channels, receiver, no_sleep):
    now = timezone.now()
    rule = _rule(channels, name="watch", kind="watched", watched="198.51.1.0/24\n2001:db8::/32",
                 created_at=now - timedelta(minutes=1))
    _bans(5, now)
    _bans(2, now, first=7)  # 198.51.7.x: not watched
    [notification] = _run(now + timedelta(seconds=1), no_sleep)
    assert "198.51.1.1 in sshd on web-1" in notification.text
    assert "198.51.7" not in notification.text
    assert len(receiver.requests) == 2
    rule.refresh_from_db()
    assert rule.state["cursor"]


def test_a_restart_or_a_resync_says_nothing(channels, receiver, no_sleep):
    """fail2ban restores its bans without new rows; the sync re-reads its file
    (a rewind) and the unique key inserts nothing; an unban-all marks rows:
    none of them is a new ban."""
    now = timezone.now()
    _rule(channels, name="watch", kind="watched", watched="198.51.0.0/16",
          created_at=now - timedelta(minutes=5))
    _rule(channels, name="many", kind="threshold", threshold=1000, window_minutes=60)
    rows = _bans(1000, now - timedelta(minutes=10))  # archived before the rules looked
    BanEvent.objects.update(created_at=now - timedelta(minutes=10))
    again = [BanEvent(node=r.node, jail=r.jail, ip=r.ip, banned_at=r.banned_at, bantime=600)
             for r in rows]
    BanEvent.objects.bulk_create(again, ignore_conflicts=True)
    BanEvent.objects.update(unbanned_at=now, unbanned_by="admin")
    assert BanEvent.objects.count() == 1000
    assert _run(now, no_sleep) == [] and not receiver.requests


def test_a_backfill_of_old_history_is_not_news(channels, receiver, no_sleep):
    now = timezone.now()
    _rule(channels, name="watch", kind="watched", watched="198.51.0.0/16",
          created_at=now - timedelta(minutes=5))
    _bans(50, now - timedelta(days=3))  # created now, banned days ago
    assert _run(now, no_sleep) == []


def test_blocklist_bans_are_not_watched(channels, receiver, no_sleep):
    now = timezone.now()
    _rule(channels, name="watch", kind="watched", watched="198.51.0.0/16",
          created_at=now - timedelta(minutes=5))
    _bans(50, now, origin="blocklist")
    assert _run(now + timedelta(seconds=1), no_sleep) == []


def test_a_node_down_and_back_up_make_one_message_each(channels, receiver, no_sleep):
    now = timezone.now()
    node = Node.objects.create(name="web-1", holder="h:1:x", fail2ban_up=True,
                               expires_at=now + timedelta(days=1))
    _rule(channels[:1], name="nodes", kind="node_down", quiet_minutes=60)
    assert _run(now, no_sleep) == []  # first sight: remembered, not told
    Node.objects.filter(pk=node.pk).update(expires_at=now - timedelta(seconds=1))
    [down] = _run(now + timedelta(minutes=1), no_sleep)
    assert down.title.startswith("Down: web-1")
    assert _run(now + timedelta(minutes=2), no_sleep) == []
    Node.objects.filter(pk=node.pk).update(expires_at=now + timedelta(days=1))
    [up] = _run(now + timedelta(minutes=3), no_sleep)
    assert up.title == "Back up: web-1"
    assert _run(now + timedelta(minutes=4), no_sleep) == []
    assert len(receiver.requests) == 2
    assert set(Delivery.objects.values_list("result", flat=True)) == {"delivered"}


def test_fail2ban_down_on_a_live_node_is_down_too(channels, no_sleep):
    now = timezone.now()
    node = Node.objects.create(name="web-2", holder="h:1:x", fail2ban_up=True,
                               expires_at=now + timedelta(days=1))
    _rule(channels[:1], name="nodes", kind="node_down", node="web-2")
    _run(now, no_sleep)
    Node.objects.filter(pk=node.pk).update(fail2ban_up=False)
    [down] = _run(now + timedelta(minutes=1), no_sleep)
    assert "fail2ban on web-2" in down.text


def test_a_failed_import_is_told(channels, no_sleep):
    now = timezone.now()
    _rule(channels[:1], name="imports", kind="import_failed")
    source = BlocklistSource.objects.create(name="spamhaus", url="https://example.com/l.txt")
    ImportRun.objects.create(source=source, status="failed", node="web-1", finished_at=now,
                             error="gave up after 3 attempts: HTTP 503")
    [told] = _run(now + timedelta(seconds=1), no_sleep)
    assert "spamhaus on web-1: gave up after 3 attempts: HTTP 503" in told.text


def test_a_rolled_back_config_change_is_told(channels, no_sleep):
    _rule(channels[:1], name="config", kind="config_rolled_back")
    audit.record("admin", "config.save", target="jail.d/x.local", result="failed",
                 detail="Your change was written, but sshd failed. BanGUI rolled it back: ...")
    audit.record("admin", "ban", target="sshd 203.0.113.9")
    [told] = _run(timezone.now() + timedelta(seconds=1), no_sleep)
    assert "config.save jail.d/x.local by admin" in told.text and "ban" not in told.title


def test_a_failing_channel_is_retried_and_shown_on_the_page(
        channels, receiver, no_sleep, viewer_client, settings):
    settings.NOTIFY_ATTEMPTS = 3
    receiver.status = 500
    now = timezone.now()
    _rule(channels, name="many", kind="threshold", threshold=1, window_minutes=10)
    _bans(5, now)
    _run(now, no_sleep)
    assert len(receiver.requests) == 6  # three attempts on each channel
    assert no_sleep[1] == [2.0, 4.0, 2.0, 4.0]
    failed = Delivery.objects.get(channel_name="webhook")
    assert failed.result == "failed" and failed.attempts == 3
    body = viewer_client.get("/notifications/").content.decode()
    assert "gave up after 3 attempts: the webhook answered HTTP 500" in body


def test_a_pending_delivery_is_sent_once(channels, receiver, no_sleep):
    now = timezone.now()
    _rule(channels[:1], name="many", kind="threshold", threshold=1, window_minutes=10)
    _bans(5, now)
    evaluate.check_rules(now)
    assert evaluate.send_pending(sleep=no_sleep[0]) == 1
    assert evaluate.send_pending(sleep=no_sleep[0]) == 0
    assert len(receiver.requests) == 1


def test_the_task_runs_it_all(channels, receiver, settings):
    from notifications import tasks

    _rule(channels[:1], name="many", kind="threshold", threshold=1, window_minutes=10)
    _bans(5, timezone.now() - timedelta(seconds=5))
    assert tasks.evaluate_rules() == "1 notifications, 1 deliveries sent"
    assert len(receiver.requests) == 1


def test_the_task_forgets_notifications_past_their_retention(settings):
    from notifications import tasks

    old = Notification.objects.create(title="old", text="x",
                                      created_at=timezone.now() - timedelta(days=91))
    Delivery.objects.create(notification=old, channel_name="c", result="delivered")
    Notification.objects.create(title="new", text="x")
    tasks.evaluate_rules()
    assert list(Notification.objects.values_list("title", flat=True)) == ["new"]
    assert not Delivery.objects.exists()
