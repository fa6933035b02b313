"""The kinds beside the ban counts: logins locked out (django-axes, for
real), config changes refused apart from rolled back, the archive behind,
watched countries and ASNs (geo's bundled databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEntry
from jails.models import BanEvent
from nodes.models import Node
from notifications import evaluate
from notifications.models import Channel, Rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(receiver) -> Channel:
    channel = Channel(name="json")
    channel.set_url(receiver.url("json", "/apprise"))
    channel.save()
    return channel


def _rule(channel, **fields) -> Rule:
    fields.setdefault("created_at", timezone.now() - timedelta(minutes=1))
    rule = Rule.objects.create(name=fields.pop("name", fields["kind"]), **fields)
    rule.channels.set([channel])
    return rule


def _run(now=None) -> list:
    stored = evaluate.check_rules(now or timezone.now() + timedelta(seconds=1))
    evaluate.send_pending(sleep=lambda s: None)
    return stored


def test_logins_locked_out_by_axes_are_told_once(admin_user, client, channel, receiver,
                                                 settings):
    settings.AXES_FAILURE_LIMIT = 3
    _rule(channel, kind="logins_locked_out")
    for _ in range(3):
        client.post(reverse("login"), {"username": "admin", "password": "wrong"},
                    REMOTE_ADDR="198.51.100.20")
    assert client.post(reverse("login"), {"username": "admin", "password": "wrong"},
                       REMOTE_ADDR="198.51.100.20").status_code == 429
    # axes signals a lockout again for the attempt made while locked: still one.
    assert AuditEntry.objects.filter(action="lockout").count() == 2
    [told] = _run()
    assert told.title == "Login locked out: admin from 198.51.100.20"
    assert told.facts == {"lockouts": 1}
    assert receiver.requests[0].json()["title"] == told.title
    assert _run(timezone.now() + timedelta(seconds=2)) == []  # the cursor moved on


def test_failed_logins_below_the_limit_are_not_a_lockout(admin_user, client, channel,
                                                         settings):
    settings.AXES_FAILURE_LIMIT = 3
    _rule(channel, kind="logins_locked_out")
    for _ in range(2):
        client.post(reverse("login"), {"username": "admin", "password": "wrong"},
                    REMOTE_ADDR="198.51.100.21")
    assert _run() == []


def test_refused_and_rolled_back_config_changes_are_told_apart(channel):
    _rule(channel, kind="config_refused")
    _rule(channel, kind="config_rolled_back")
    audit.record("admin", "config.save", target="jail.d/x.local", result="failed",
                 detail="Your change was written, but sshd failed. BanGUI rolled it back: ...")
    audit.record("admin", "config.jail", target="sshd", result="failed",
                 detail="bantime: enter a whole number")
    audit.record("admin", "config.save", target="jail.d/y.local")  # saved: neither
    told = {n.kind: n for n in _run()}
    assert told["config_rolled_back"].title == "Config change rolled back"
    assert "jail.d/x.local" in told["config_rolled_back"].text
    assert "config.jail" not in told["config_rolled_back"].text
    assert told["config_refused"].title == "Config change refused"
    assert told["config_refused"].text == \
        "config.jail sshd by admin: bantime: enter a whole number"


def test_the_archive_behind_is_told_and_its_catching_up_too(channel):
    now = timezone.now()
    node = Node.objects.create(name="web-1", holder="h:1:x", fail2ban_up=True,
                               expires_at=now + timedelta(days=1),
                               archive_synced_at=now - timedelta(minutes=3))
    Node.objects.create(name="web-2", holder="", expires_at=now - timedelta(hours=1),
                        archive_synced_at=now - timedelta(hours=1))  # down: node_down's
    _rule(channel, kind="archive_behind", window_minutes=5, quiet_minutes=0)
    assert _run(now) == []
    [behind] = _run(now + timedelta(minutes=3))
    assert behind.title == "Archive behind: web-1 (6 min)"
    assert _run(now + timedelta(minutes=4)) == []  # still behind: said once
    Node.objects.filter(pk=node.pk).update(archive_synced_at=now + timedelta(minutes=5))
    [current] = _run(now + timedelta(minutes=5))
    assert current.title == "Archive caught up: web-1"


def _archived(ip: str, country: str | None, now, **fields) -> BanEvent:
    return BanEvent.objects.create(node="web-1", jail="sshd", ip=ip, banned_at=now,
                                   bantime=600, country_code=country, **fields)


def test_a_watched_country_or_asn_banned_is_told(channel):
    now = timezone.now()
    _rule(channel, kind="watched", watched="AU\nAS15169  # Google\n192.0.2.0/24")
    _archived("1.1.1.1", "AU", now)           # the country the sync stored
    _archived("8.8.8.8", None, now)           # AS15169, from the bundled ASN data
    _archived("81.2.69.142", "GB", now)       # neither
    _archived("9.9.9.9", "US", now, origin="blocklist")  # not watched: a list's
    [told] = _run()
    assert told.text == ("Banned: 1.1.1.1 in sshd on web-1 (AU); "
                         "8.8.8.8 in sshd on web-1 (AS15169).")


def test_a_country_unresolved_in_the_archive_is_read_from_geo(channel):
    _rule(channel, kind="watched", watched="gb")
    _archived("81.2.69.142", None, timezone.now())
    [told] = _run()
    assert "81.2.69.142 in sshd on web-1 (GB)" in told.text
