"""Banning an allow-listed or ignored address asks first on every node,
not only on this host's: another node's ignore list is the one its worker
published, the allow-list is the shared table (docs/allowlist.md, "Banning
an allow-listed address"). Nothing is sent until the form comes back with
"confirm" (the API: ``"force": true``)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from accounts.models import AuditEntry
from allowlist.models import AllowEntry
from jails.live import actions
from nodes.models import Node

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def node_b(db):
    """Node b, up, running sshd with its own ignore list published."""
    now = timezone.now()
    return Node.objects.create(
        name="b", holder="b:1:x", heartbeat_at=now, expires_at=now + timedelta(seconds=30),
        fail2ban_up=True, jails=["sshd"],
        jail_settings={"sshd": {"ignore_ips": ["203.0.113.0/24"]}})


def _entry(value: str, **scope) -> AllowEntry:
    entry = AllowEntry(value=value, added_by="alice", note="office", **scope)
    entry.full_clean()
    entry.save()
    return entry


def test_another_nodes_published_ignore_list_and_its_allow_list_entries_ask(node_b):
    _entry("198.51.100.0/24", node="b")
    reasons = actions.ban_warnings("sshd", ["203.0.113.9", "198.51.100.7"], None, ["b"])
    assert reasons[0] == ("203.0.113.9 is in sshd on b's ignore list (203.0.113.0/24): "
                          "fail2ban never bans it on its own")
    assert any(r.startswith("198.51.100.7 is allow-listed (198.51.100.0/24, every jail on node b, "
                            "added by alice") for r in reasons), reasons
    # Node b's entry and ignore list say nothing about a ban on another node.
    assert actions.ban_warnings("sshd", ["198.51.100.7", "203.0.113.9"], None, ["c"]) == []


def test_the_dashboard_asks_before_banning_on_another_node_and_sends_nothing(
        node_b, operator_client):
    _entry("198.51.100.0/24")
    body = operator_client.post(reverse("dashboard_ban"),
                                {"ip": "198.51.100.7", "jail": "sshd", "node": "b"},
                                **HX).content.decode()
    assert "Not banned yet: 198.51.100.7 is allow-listed (198.51.100.0/24" in body
    assert "Ban anyway?" in body and 'name="confirm"' in body
    assert not OrmQ.objects.exists() and not AuditEntry.objects.filter(action="ban").exists()


def test_the_api_refuses_an_allow_listed_ban_on_another_node_unless_forced(
        node_b, admin_user, client):
    _entry("198.51.100.0/24")
    client.force_login(admin_user)
    answer = client.post("/api/v1/bans/", json.dumps(
        {"jail": "sshd", "ip": "198.51.100.7", "node": "b"}), content_type="application/json")
    assert answer.status_code == 409
    assert "198.51.100.7 is allow-listed" in answer.json()["detail"]
