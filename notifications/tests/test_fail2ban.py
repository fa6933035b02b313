"""Against the sandboxed fail2ban-server (conftest's ``f2b``): bans made by
fail2ban from log lines reach the receiver as one message per channel in
one look; a restart of fail2ban with 1,000 live bans says nothing; watched
countries and ASNs from the sync's geo; a stalled archive sync; config
changes refused and rolled back by the real config transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import wait_for
from jails import tasks
from jails.models import BanEvent
from nodes.models import Node
from nodes.worker import publish_facts
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
    # sshd runs the dummy action, a shell per ban inside the command: in one
    # command, 1,000 outlasted the client's 10 s on a busy CI machine (the
    # client sends them BULK_BATCH at a time).
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


def test_a_watched_country_and_asn_banned_from_log_lines(f2b, f2b_client, receiver):
    """The sync resolves each ban's country with geo's bundled database; the
    rule reads it, and the ASN from geo."""
    _archive_from_here()
    channels = _channels(receiver)
    _rule(channels, name="countries", kind="watched", watched="AU\nAS15169")
    ips = ["1.1.1.1", "8.8.8.8", "81.2.69.142"]  # AU, AS15169 (US), GB
    for ip in ips:
        f2b.write_failures("sshd", ip, count=3)
    wait_for(lambda: set(ips) <= set(f2b_client.banned("sshd")))
    tasks.sync_archive()
    assert dict(BanEvent.objects.values_list("ip", "country_code")) == {
        "1.1.1.1": "AU", "8.8.8.8": "US", "81.2.69.142": "GB"}
    [told] = _look()
    assert "1.1.1.1 in sshd on" in told.text and "(AU)" in told.text
    assert "8.8.8.8 in sshd on" in told.text and "(AS15169)" in told.text
    assert "81.2.69.142" not in told.text
    assert len(receiver.requests) == 2


def test_an_archive_sync_stalled_is_told_and_its_recovery_too(f2b, receiver, settings):
    """The node's worker publishes its last sync (publish_facts, as its
    heartbeat does); a stalled sync is told, the next real sync clears it."""
    now = timezone.now()
    Node.objects.create(name=settings.BANGUI_NODE, holder="h:1:x",
                        expires_at=now + timedelta(days=1))
    tasks.sync_archive()
    publish_facts(settings.BANGUI_NODE)
    channels = _channels(receiver)
    _rule(channels, name="archive", kind="archive_behind", window_minutes=5, quiet_minutes=0)
    assert _look() == []
    Node.objects.update(archive_synced_at=now - timedelta(minutes=6))  # the sync stalls
    [behind] = _look()
    assert behind.title.startswith(f"Archive behind: {settings.BANGUI_NODE} (6 min)")
    tasks.sync_archive()
    publish_facts(settings.BANGUI_NODE)
    [current] = _look()
    assert current.title == f"Archive caught up: {settings.BANGUI_NODE}"
    assert len(receiver.requests) == 4


def test_config_changes_refused_and_rolled_back_over_http(f2b, f2b_client, receiver,
                                                         operator_client, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"  # the config transaction's backups and lock
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    channels = _channels(receiver)
    _rule(channels[:1], name="refused", kind="config_refused")
    _rule(channels[:1], name="rolled back", kind="config_rolled_back")
    page = operator_client.get("/config/file/?path=jail.d/sshd.local")
    version = page.context["form"].initial["version"]
    stale = operator_client.post("/config/file/save/", {
        "path": "jail.d/sshd.local", "version": "0" * 64, "text": "[sshd]\nmaxretry = 6\n"})
    assert stale.status_code == 409  # refused: nothing written
    rolled = operator_client.post("/config/file/save/", {
        "path": "jail.d/sshd.local", "version": version, "text": "[sshd]\nbantime = abc\n"},
        HTTP_HX_REQUEST="true")
    assert "rolled it back" in rolled.content.decode()
    assert "sshd" in f2b_client.jail_names()
    told = {n.rule_name: n for n in _look()}
    assert set(told) == {"refused", "rolled back"}
    assert told["refused"].text.startswith(
        f"config.save jail.d/sshd.local by operator on {settings.BANGUI_NODE}: "
        "jail.d/sshd.local was changed by someone else")
    assert "rolled it back" not in told["refused"].text
    assert "rolled it back" in told["rolled back"].text
    assert len(receiver.requests) == 2
