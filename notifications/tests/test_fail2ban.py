"""Against the sandboxed fail2ban-server (conftest's ``f2b``): bans made by
fail2ban from log lines reach the receiver as one message per channel in
one look; a restart of fail2ban with 1,000 live bans says nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import wait_for
from jails import tasks
from jails.models import BanEvent
from notifications import evaluate
from notifications.models import Channel, Rule

pytestmark = pytest.mark.django_db


def _channels(receiver) -> list[Channel]:
    made = []
    for name, url in (("json", receiver.url("json", "/apprise")),
                      ("webhook", f"bangui+http://127.0.0.1:{receiver.port}/signed?secret=k")):
        channel = Channel(name=name)
        channel.set_url(url)
        channel.save()
        made.append(channel)
    return made


def _rule(channels, **fields) -> Rule:
    rule = Rule.objects.create(created_at=timezone.now() - timedelta(minutes=1), **fields)
    rule.channels.set(channels)
    return rule


def _archive_from_here() -> None:
    """The shared sandbox's fail2ban database holds earlier tests' bans:
    copy them now and drop them from the archive, so what the test counts
    is its own (the sync's cursor stays past them)."""
    tasks.sync_archive()
    BanEvent.objects.all().delete()


def _look() -> list:
    stored = evaluate.check_rules(timezone.now() + timedelta(seconds=1))
    evaluate.send_pending(sleep=lambda s: None)
    return stored


def test_bans_from_log_lines_make_one_message_per_channel(f2b, f2b_client, receiver):
    _archive_from_here()
    channels = _channels(receiver)
    _rule(channels, name="storm", kind="threshold", threshold=4, window_minutes=10)
    ips = [f"203.0.113.{i}" for i in range(1, 7)]
    for ip in ips:
        f2b.write_failures("sshd", ip, count=3)
    wait_for(lambda: set(ips) <= set(f2b_client.banned("sshd")))
    tasks.sync_archive()
    assert BanEvent.objects.filter(ip__in=ips).count() == 6
    [told] = _look()
    assert "6 bans in 10 min" in told.title
    assert sorted(r.path for r in receiver.requests) == ["/apprise", "/signed"]


def test_a_restart_with_1000_live_bans_says_nothing(f2b, f2b_client, receiver):
    _archive_from_here()
    channels = _channels(receiver)
    _rule(channels, name="watch", kind="watched", watched="10.0.0.0/8", quiet_minutes=0)
    ips = [f"10.1.{i // 250}.{1 + i % 250}" for i in range(1000)]
    f2b_client.ban("sshd", ips)
    tasks.sync_archive()
    assert BanEvent.objects.count() == 1000
    [first] = _look()  # the bans themselves are news, once, in one message
    assert "and 980 more" in first.text
    assert len(receiver.requests) == 2
    f2b.stop()
    f2b.start()
    wait_for(lambda: len(f2b_client.banned("sshd")) == 1000)  # restored from its db
    tasks.sync_archive()
    assert BanEvent.objects.count() == 1000
    assert _look() == []
    assert len(receiver.requests) == 2
