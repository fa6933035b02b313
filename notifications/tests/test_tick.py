"""The coordinator's node tick looks at the rules every few seconds and
hands what they stored to its main lane to send, so a ban reaches a
channel seconds after it is archived (docs/notifications.md, "When");
a rule in its quiet period is looked at once a minute, as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from jails.models import BanEvent
from nodes import nodename
from nodes.models import Node
from notifications import evaluate, tasks
from notifications.models import Delivery, Notification, Rule
from notifications.tests.test_evaluate import _rule, channels  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _banned(ip: str, node: str = "web-1") -> BanEvent:
    return BanEvent.objects.create(node=node, jail="sshd", ip=ip, banned_at=timezone.now(),
                                   bantime=600)


def test_the_tick_stores_a_watched_ban_and_queues_its_sending_to_the_main_lane(
        channels, receiver, settings, no_sleep):  # noqa: F811
    _rule(channels, name="watch", kind="watched", watched="192.0.2.0/24")
    _banned("192.0.2.7")
    tasks.tick()
    [notification] = Notification.objects.all()
    assert "192.0.2.7 in sshd on web-1" in notification.text
    # Queued to this node's main lane, not sent in the tick (the command lane).
    assert [q.key for q in OrmQ.objects.all()] == [nodename.queue(settings.BANGUI_NODE)]
    assert receiver.requests == []
    assert set(Delivery.objects.values_list("result", flat=True)) == {"pending"}
    assert tasks.send_pending() == "2 deliveries sent"
    assert len(receiver.requests) == 2
    tasks.tick()  # nothing new: nothing stored, nothing queued
    assert Notification.objects.count() == 1 and OrmQ.objects.count() == 1


def test_a_rule_in_its_quiet_period_is_looked_at_once_a_minute_by_the_tick(channels):  # noqa: F811
    rule = _rule(channels, name="many", kind="threshold", threshold=1, window_minutes=10,
                 quiet_minutes=30)
    _banned("198.51.100.1")
    _banned("198.51.100.2")
    now = timezone.now()
    assert len(evaluate.check_rules(now, tick=True)) == 1  # told
    # Still above the threshold: the tick leaves it alone inside the minute...
    assert evaluate.check_rules(now + timedelta(seconds=5), tick=True) == []
    assert evaluate.check_rules(now + timedelta(seconds=55), tick=True) == []
    # ...then counts it, held back by the quiet period, as the minute schedule does.
    [held] = evaluate.check_rules(now + timedelta(seconds=61), tick=True)
    assert set(held.deliveries.values_list("result", flat=True)) == {"skipped_quiet"}
    rule.refresh_from_db()
    assert rule.state["suppressed"] == {"default": 1}


def test_only_the_coordinator_looks(channels, settings):  # noqa: F811
    _rule(channels, name="watch", kind="watched", watched="192.0.2.0/24")
    _banned("192.0.2.8")
    now = timezone.now()
    # Node "a" is up and comes first by name: it is the coordinator, not this one.
    settings.BANGUI_NODE = "z-this"
    Node.objects.create(name="a", holder="a:1:x", heartbeat_at=now,
                        expires_at=now + timedelta(seconds=30))
    tasks.tick()
    assert not Notification.objects.exists()
    settings.BANGUI_NODE = "a"
    tasks.tick()
    assert Notification.objects.count() == 1


def test_the_minute_schedule_and_the_tick_never_tell_the_same_ban_twice(channels):  # noqa: F811
    _rule(channels, name="watch", kind="watched", watched="192.0.2.0/24")
    _banned("192.0.2.9")
    tasks.tick()
    evaluate.check_rules()
    assert Notification.objects.count() == 1
    assert Rule.objects.get().state["cursor"]
