"""Permanent bans (issue #28): fail2ban's banip takes no time of its own, so
a permanent ban goes into BanGUI's jail "permanent" (bantime -1,
provisioned like BanGUI's other jails); it survives a fail2ban restart and
the dashboard says "permanent" in its Until column and filter
(docs/archive.md, "Network and permanent bans")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from jails.config import jail as jail_config
from jails.fail2ban import Fail2banClient
from jails.models import BanEvent

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_bangui_provisions_a_permanent_jail_with_bantime_minus_one():
    own = {j.name: j for j in jail_config.BANGUI_JAILS}["permanent"]
    assert own.bantime == -1 and own.rel == "jail.d/bangui-permanent.local"
    assert "bantime = -1\n" in jail_config.bangui_jail_text(own)


@pytest.mark.fail2ban
def test_a_permanent_ban_without_the_jail_is_refused_with_what_to_do(operator_client, f2b,
                                                                     f2b_client):
    response = operator_client.post(reverse("dashboard_ban"),
                                    {"ip": "203.0.113.50", "jail": "sshd", "permanent": "on"},
                                    **HX)
    body = response.content.decode()
    assert "not running" in body and "Create BanGUI" in body
    assert f2b_client.jails_of_ip("203.0.113.50") == []
    assert not BanEvent.objects.exists()
    assert AuditEntry.objects.filter(action="ban", result="failed").exists()


@pytest.mark.fail2ban
def test_a_permanent_ban_survives_a_restart_and_shows_permanent(operator_client, cfg):
    outcome = jail_config.provision()
    assert outcome is not None and outcome.ok, outcome
    client = Fail2banClient(str(cfg.socket))
    assert "permanent" in client.jail_names()
    assert client.bantime("permanent") == -1

    response = operator_client.post(reverse("dashboard_ban") + "?window=7d",
                                    {"ip": "203.0.113.0/24", "jail": "sshd",
                                     "permanent": "on"}, **HX)
    body = response.content.decode()
    assert "Banned 203.0.113.0/24 in permanent." in body
    event = BanEvent.objects.get(ip="203.0.113.0/24")
    assert (event.jail, event.bantime, event.actor) == ("permanent", -1, "operator")

    cfg.stop()
    cfg.start()
    client = Fail2banClient(str(cfg.socket))
    entries = {e.ip: e for e in client.banned_with_time("permanent")}
    assert "203.0.113.0/24" in entries and entries["203.0.113.0/24"].permanent

    BanEvent.objects.create(ip="198.51.100.9", jail="sshd", bantime=600,
                            banned_at=timezone.now() - timedelta(minutes=5))
    page = operator_client.get("/?window=7d").content.decode()
    row = page.split('<tr data-ip="203.0.113.0/24"', 1)[1].split("</tr>", 1)[0]
    until = row.split('data-testid="until">', 1)[1].split("</td>", 1)[0]
    assert "permanent" in until
    now = row.split('data-testid="now">', 1)[1].split("</td>", 1)[0]
    assert "banned" in now and "permanent" in now
    other = page.split('<tr data-ip="198.51.100.9"', 1)[1].split("</tr>", 1)[0]
    assert "<time" in other.split('data-testid="until">', 1)[1].split("</td>", 1)[0]

    only = operator_client.get("/?window=7d&kind=permanent").content.decode()
    assert '<tr data-ip="203.0.113.0/24"' in only and '<tr data-ip="198.51.100.9"' not in only
    ranges = operator_client.get("/?window=7d&kind=range").content.decode()
    assert '<tr data-ip="203.0.113.0/24"' in ranges and '<tr data-ip="198.51.100.9"' not in ranges
    inside = operator_client.get(reverse("ip_detail", args=["203.0.113.9"])).content.decode()
    assert "203.0.113.0/24</a> in <a" in inside and "permanent" in inside


def test_the_kind_filter_counts_and_lists_only_those_bans(admin_client, settings, tmp_path):
    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")
    now = timezone.now()
    for n in range(3):
        BanEvent.objects.create(ip=f"192.0.2.{n}", jail="sshd", bantime=600,
                                banned_at=now - timedelta(days=n, minutes=1))
    BanEvent.objects.create(ip="192.0.2.99", jail="permanent", bantime=-1, origin="manual",
                            banned_at=now - timedelta(days=3))
    body = admin_client.get("/?window=30d&kind=permanent").content.decode()
    assert '<tr data-ip="192.0.2.99"' in body and '<tr data-ip="192.0.2.0"' not in body
    assert 'data-testid="figure-total"><span class="figure-value">1<' in body
    assert '<option value="permanent" selected>' in body
    body = admin_client.get("/?window=30d&kind=range").content.decode()
    assert 'data-testid="empty"' in body
