"""manage.py notify channel add|test|list|remove. A CommandError is what
manage.py turns into its exit code (``returncode``, 1), so the code a
script sees is read from it."""

from __future__ import annotations

import sys

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry
from notifications.models import Channel, Delivery

pytestmark = pytest.mark.django_db


def notify(*args: str) -> int:
    try:
        call_command("notify", "channel", *args)
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return exc.returncode
    return 0


def test_it_adds_lists_tests_and_removes(receiver, capsys):
    assert notify("add", "hook", receiver.url()) == 0
    assert Channel.objects.get().url == receiver.url()
    assert notify("list") == 0
    out = capsys.readouterr().out
    assert "hook\tjson\tenabled" in out and str(receiver.port) not in out
    assert notify("test", "hook") == 0
    assert len(receiver.requests) == 1 and "delivered" in capsys.readouterr().out
    assert Delivery.objects.get().result == "delivered"
    assert notify("remove", "hook") == 0
    assert not Channel.objects.exists()
    assert list(AuditEntry.objects.values_list("action", flat=True).order_by("id")) == [
        "notify.channel.add", "notify.channel.remove"]


def test_test_exits_1_when_not_delivered(receiver, capsys, settings):
    settings.NOTIFY_ATTEMPTS = 1
    receiver.status = 500
    notify("add", "hook", receiver.url())
    assert notify("test", "hook") == 1
    assert "not delivered" in capsys.readouterr().err
    assert Delivery.objects.get().result == "failed"


def test_it_refuses_a_bad_url_or_a_duplicate(receiver, capsys):
    assert notify("add", "x", "nosuchservice://a/b") == 1
    assert "apprise does not understand" in capsys.readouterr().err
    assert notify("add", "hook", receiver.url()) == 0
    assert notify("add", "hook", receiver.url()) == 1
    assert notify("test", "nope") == 1
    assert notify("remove", "nope") == 1
    assert Channel.objects.count() == 1


def test_signed_webhook_via_cli(receiver):
    url = f"bangui+http://127.0.0.1:{receiver.port}/hook?secret=abc"
    assert notify("add", "signed", url) == 0
    assert notify("test", "signed") == 0
    assert receiver.requests[0].json()["event"] == "test"
