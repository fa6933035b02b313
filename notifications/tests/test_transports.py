"""Sending to one URL: apprise's json://, the signed webhook, the SSRF
guard, retries, and URLs encrypted at rest."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from notifications import transports
from notifications.models import Channel

MESSAGE = transports.Message("Ban spike", "42 bans in 10 min", "warning",
                             {"event": "notification", "title": "Ban spike"})


def test_it_delivers_through_apprise_json(receiver):
    outcome = transports.deliver(receiver.url(), MESSAGE)
    assert outcome.delivered and outcome.attempts == 1
    [got] = receiver.requests
    assert got.path == "/hook"
    assert got.json()["title"] == "Ban spike"
    assert "42 bans" in got.json()["message"]


def test_it_signs_the_webhook_so_the_receiver_can_verify_it(receiver):
    url = f"bangui+http://127.0.0.1:{receiver.port}/bangui?secret=s3cret&x=1"
    outcome = transports.deliver(url, MESSAGE)
    assert outcome.delivered
    [got] = receiver.requests
    assert got.path == "/bangui?x=1"  # the secret never travels
    timestamp = got.headers["X-BanGUI-Timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + got.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-BanGUI-Signature"], "sha256=" + expected)
    assert json.loads(got.body) == MESSAGE.payload
    assert got.headers["Content-Type"] == "application/json"


def test_it_refuses_a_webhook_without_its_secret():
    with pytest.raises(transports.InvalidURL, match="secret"):
        transports.check("bangui+https://hooks.example.com/x")


def test_it_refuses_loopback_unless_allowed(settings):
    settings.NOTIFY_ALLOW_PRIVATE = False
    with pytest.raises(transports.InvalidURL, match="BANGUI_NOTIFY_ALLOW_PRIVATE"):
        transports.check("json://127.0.0.1:9/x")
    with pytest.raises(transports.InvalidURL, match="loopback"):
        transports.check("bangui+http://localhost:9/x?secret=a")
    outcome = transports.deliver("ntfy://10.1.2.3/topic", MESSAGE)
    assert not outcome.delivered and "private" in outcome.detail and outcome.attempts == 1


def test_it_refuses_what_apprise_does_not_know():
    with pytest.raises(transports.InvalidURL, match="apprise"):
        transports.check("nosuchservice://x/y")


def test_it_retries_a_failing_channel_with_backoff(receiver, no_sleep):
    receiver.status = 500
    sleep, pauses = no_sleep
    outcome = transports.deliver(receiver.url(), MESSAGE, attempts=3, sleep=sleep)
    assert not outcome.delivered
    assert outcome.attempts == 3 and len(receiver.requests) == 3
    assert pauses == [2.0, 4.0]
    assert "gave up after 3 attempts" in outcome.detail


def test_it_retries_a_failing_webhook(receiver, no_sleep):
    receiver.status = 503
    sleep, pauses = no_sleep
    outcome = transports.deliver(f"bangui+http://127.0.0.1:{receiver.port}/h?secret=a",
                                 MESSAGE, attempts=2, sleep=sleep)
    assert not outcome.delivered and outcome.attempts == 2
    assert "HTTP 503" in outcome.detail and pauses == [2.0]


@pytest.mark.django_db
def test_it_stores_the_url_encrypted():
    channel = Channel(name="phone")
    channel.set_url("tgram://123456:SECRETTOKEN/42")
    channel.save()
    stored = Channel.objects.values_list("url_encrypted", flat=True).get()
    assert "SECRETTOKEN" not in stored
    assert Channel.objects.get().url == "tgram://123456:SECRETTOKEN/42"
    assert Channel.objects.get().scheme == "tgram"


@pytest.mark.django_db
def test_it_still_decrypts_under_a_fallback_key(settings):
    channel = Channel(name="old")
    channel.set_url("json://example.com/x")
    channel.save()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert Channel.objects.get().url == "json://example.com/x"


def test_it_follows_no_redirect(receiver, no_sleep):
    receiver.status = 302  # past the guard, a redirect could lead anywhere
    outcome = transports.deliver(receiver.url(), MESSAGE, attempts=1, sleep=no_sleep[0])
    assert not outcome.delivered and len(receiver.requests) == 1
