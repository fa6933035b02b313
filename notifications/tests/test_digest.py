"""Digests: the last day (or week) summed up, sent once per period by the
worker's minute look, even when a second worker looks at the same time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blocklists.models import BlocklistSource, ImportRun
from jails.models import BanEvent
from nodes.models import Node
from notifications import evaluate
from notifications.models import Channel, Notification, Rule

pytestmark = pytest.mark.django_db

# Sunday 6 December 2026, ten past midnight in the configured zone (UTC).
NOW = datetime(2026, 12, 6, 0, 10, tzinfo=UTC)
YESTERDAY = datetime(2026, 12, 5, tzinfo=UTC)


@pytest.fixture
def channel(receiver) -> Channel:
    channel = Channel(name="webhook")
    channel.set_url(f"bangui+http://127.0.0.1:{receiver.port}/signed?secret=k")
    channel.save()
    return channel


def _digest(channel, period: str = "daily", **fields) -> Rule:
    fields.setdefault("created_at", datetime(2026, 11, 1, tzinfo=UTC))
    rule = Rule.objects.create(name=f"{period} digest", kind="digest", period=period,
                               **fields)
    rule.channels.set([channel])
    return rule


def _bans(count: int, jail: str, country: str | None, at: datetime, node: str = "web-1"):
    BanEvent.objects.bulk_create([
        BanEvent(node=node, jail=jail, ip=f"198.51.{i // 250}.{1 + i % 250}",
                 banned_at=at + timedelta(seconds=i), bantime=600, country_code=country)
        for i in range(count)])


def _look(now: datetime) -> list[Notification]:
    stored = evaluate.check_rules(now)
    evaluate.send_pending(sleep=lambda s: None)
    return stored


@pytest.fixture
def yesterday():
    """Bans of yesterday and of the days around it, a failed import, a node down."""
    _bans(7, "sshd", "CN", YESTERDAY + timedelta(hours=3))
    _bans(3, "nginx", "US", YESTERDAY + timedelta(hours=20))
    _bans(2, "nginx", None, YESTERDAY + timedelta(hours=23, minutes=59))
    _bans(50, "sshd", "CN", YESTERDAY - timedelta(minutes=5))   # the day before
    _bans(40, "sshd", "RU", NOW - timedelta(minutes=5))         # today
    source = BlocklistSource.objects.create(name="spamhaus", url="https://example.com/l")
    ImportRun.objects.create(source=source, status="failed", node="web-1",
                             finished_at=YESTERDAY + timedelta(hours=12))
    ImportRun.objects.create(source=source, status="failed", node="web-1",
                             finished_at=NOW - timedelta(minutes=1))  # today's
    Node.objects.create(name="web-2", holder="", expires_at=NOW - timedelta(hours=2))


def test_a_daily_digest_is_sent_once_with_the_days_figures(yesterday, channel, receiver):
    rule = _digest(channel)
    [digest] = _look(NOW)
    assert digest.title == "Daily digest, Saturday 5 December 2026: 12 bans"
    assert digest.text == (
        "12 bans on the fleet (Saturday 5 December 2026).\n"
        "Top jails: sshd 7 · nginx 5.\n"
        "Top countries: CN 7 · US 3 · unknown 2.\n"
        "Nodes down now: web-2.\n"
        "Failed blocklist imports: 1 (spamhaus).")
    [sent] = receiver.requests
    body = sent.json()
    assert body["kind"] == "digest"
    assert body["facts"]["bans"] == 12 and body["facts"]["top_jails"] == [["sshd", 7],
                                                                         ["nginx", 5]]
    assert body["facts"]["start"] == "2026-12-05T00:00:00+00:00"
    assert _look(NOW + timedelta(minutes=1)) == []  # the same period: nothing
    assert _look(NOW + timedelta(hours=23)) == []
    assert len(receiver.requests) == 1
    rule.refresh_from_db()
    assert rule.state["digest"] == "daily:2026-12-05"


def test_a_second_worker_in_the_same_period_stores_nothing(yesterday, channel, receiver):
    """A worker that read the rule before the first one wrote its state (a
    coordinator hand-over) gets to the digest too: the database's claim
    refuses its copy."""
    rule = _digest(channel)
    assert len(_look(NOW)) == 1
    Rule.objects.filter(pk=rule.pk).update(state={})  # what the other worker knew
    assert _look(NOW + timedelta(seconds=30)) == []
    assert Notification.objects.filter(kind="digest").count() == 1
    assert len(receiver.requests) == 1


def test_the_next_day_sends_the_next_digest(yesterday, channel, receiver):
    _digest(channel)
    _look(NOW)
    [today] = _look(NOW + timedelta(days=1))
    assert today.title == "Daily digest, Sunday 6 December 2026: 40 bans"
    assert "Top countries: RU 40." in today.text
    assert len(receiver.requests) == 2


def test_a_weekly_digest_sums_up_monday_to_sunday(yesterday, channel, receiver):
    _digest(channel, period="weekly", node="web-1",
            created_at=datetime(2026, 12, 1, tzinfo=UTC))
    assert _look(NOW) == []  # the last week ended (30 November) before the rule existed
    [week] = _look(datetime(2026, 12, 7, 0, 1, tzinfo=UTC))
    assert week.title == "Weekly digest, week of 30 November 2026: 102 bans"
    assert "102 bans on node web-1" in week.text
    assert "Nodes down now: none." in week.text  # web-2 is outside the rule's scope
    assert "Failed blocklist imports: 2 (spamhaus)." in week.text
    assert week.claim == "weekly:2026-11-30"


def test_days_follow_the_configured_time_zone(channel, receiver):
    from accounts.models import RuntimeSettings

    RuntimeSettings.objects.create(time_zone="Europe/Berlin")  # UTC+1 in December
    _bans(4, "sshd", "CN", datetime(2026, 12, 5, 23, 30, tzinfo=UTC))  # 6 Dec in Berlin
    _digest(channel)
    [digest] = _look(datetime(2026, 12, 7, 0, 10, tzinfo=UTC))
    assert digest.title == "Daily digest, Sunday 6 December 2026: 4 bans"
