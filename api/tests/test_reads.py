"""The reads beside the archive (jails, live bans, nodes, an address, the
audit trail) and the jail commands, against the sandboxed fail2ban."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from django.utils import timezone

from accounts.models import AuditEntry
from api.tests.conftest import bearer
from api.tests.test_bans import archived, post
from api.tests.test_exports import content
from nodes.models import Node


def test_it_lists_this_hosts_jails_live(f2b, viewer_user, make_token, client):
    body = client.get("/api/v1/jails/", **bearer(make_token(viewer_user))).json()
    assert body["live"] is True and body["version"]
    sshd = next(j for j in body["jails"] if j["name"] == "sshd")
    assert sshd["settings"]["bantime"] > 0 and "currently_banned" in sshd
    missing = client.get("/api/v1/jails/", {"node": "nowhere"}, **bearer(make_token(viewer_user)))
    assert missing.status_code == 404


def test_it_pages_a_jails_live_bans(f2b, f2b_client, viewer_user, make_token, client):
    f2b_client.ban("sshd", ["192.0.2.31", "192.0.2.32", "192.0.2.33"])
    body = client.get("/api/v1/jails/sshd/bans/", {"per_page": 2},
                      **bearer(make_token(viewer_user))).json()
    assert body["count"] == 3 and body["pages"] == 2 and len(body["results"]) == 2
    assert {r["ip"] for r in body["results"]} <= {"192.0.2.31", "192.0.2.32", "192.0.2.33"}


def test_it_lists_the_nodes(setup_done, viewer_user, make_token, client):
    now = timezone.now()
    Node.objects.create(name="b", holder="b:1:x", heartbeat_at=now,
                        expires_at=now + timedelta(minutes=1), labels=["web"])
    nodes = client.get("/api/v1/nodes/", **bearer(make_token(viewer_user))).json()
    assert [(n["name"], n["up"], n["labels"]) for n in nodes] == [("b", True, ["web"])]


def test_it_shows_an_address_now_and_archived(f2b, f2b_client, viewer_user, make_token,
                                              client, settings):
    archived(2)
    f2b_client.ban("sshd", ["192.0.2.1"])
    body = client.get("/api/v1/ips/192.0.2.1/", **bearer(make_token(viewer_user))).json()
    assert body["ip"] == "192.0.2.1" and body["count"] == 1
    assert [(b["node"], b["jail"]) for b in body["banned_now"]] == [(settings.BANGUI_NODE,
                                                                      "sshd")]
    assert body["history"][0]["ip"] == "192.0.2.1"
    bad = client.get("/api/v1/ips/not-an-ip/", **bearer(make_token(viewer_user)))
    assert bad.status_code == 400
    network = client.get("/api/v1/ips/203.0.113.0/24/", **bearer(make_token(viewer_user)))
    assert network.status_code == 200 and network.json()["ip"] == "203.0.113.0/24"


def test_jail_commands_go_through_the_dispatch(f2b, f2b_client, operator_user, make_token,
                                               client):
    secret = make_token(operator_user, "write")
    url = "/api/v1/jails/sshd/ignore/"
    body = json.dumps({"value": "198.51.100.0/24"})
    response = client.post(url, data=body, content_type="application/json", **bearer(secret))
    assert response.status_code == 200, response.content
    assert "198.51.100.0/24" in f2b_client.ignore_list("sshd")
    response = client.delete(url, data=body, content_type="application/json", **bearer(secret))
    assert response.status_code == 200
    assert "198.51.100.0/24" not in f2b_client.ignore_list("sshd")
    f2b_client.ban("sshd", ["192.0.2.41", "192.0.2.42"])
    response = client.post("/api/v1/jails/sshd/unban-all/", **bearer(secret))
    assert response.json()["message"] == "Unbanned all 2 IPs from sshd."
    assert f2b_client.banned("sshd") == []
    actions = set(AuditEntry.objects.filter(actor_name="operator")
                  .values_list("action", flat=True))
    assert actions == {"jail.ignore_add", "jail.ignore_remove", "jail.unban_all"}


def test_the_audit_trail_reads_and_exports(f2b, operator_user, make_token, client):
    secret = make_token(operator_user, "write")
    post(client, secret, {"jail": "sshd", "ip": "192.0.2.51"})
    post(client, secret, {"jail": "sshd", "ip": "192.0.2.999", "force": True})
    body = client.get("/api/v1/audit/", {"action": "ban"}, **bearer(secret)).json()
    assert [r["result"] for r in body["results"]] == ["failed", "ok"]
    assert body["results"][1]["actor"] == "operator"
    rows = list(csv.DictReader(io.StringIO(content(client.get(
        "/api/v1/audit/export.csv", {"result": "ok"}, **bearer(secret))))))
    assert [r["action"] for r in rows] == ["ban"] and "192.0.2.51" in rows[0]["target"]
    as_json = json.loads(content(client.get("/api/v1/audit/export.json", **bearer(secret))))
    assert len(as_json) == 2
    assert client.get("/api/v1/audit/", {"window": "2y"}, **bearer(secret)).status_code == 400


def test_a_jail_stops_and_starts_through_the_api(f2b, f2b_client, operator_user, make_token,
                                                 client):
    secret = make_token(operator_user, "write")
    f2b_client.ban("sshd", ["192.0.2.61"])
    response = client.post("/api/v1/jails/sshd/stop/", **bearer(secret))
    assert response.status_code == 200, response.content
    assert "sshd" not in f2b_client.jail_names()
    response = client.post("/api/v1/jails/sshd/start/", **bearer(secret))
    assert response.status_code == 200, response.content
    assert "sshd" in f2b_client.jail_names()
    assert client.post("/api/v1/jails/sshd/reload/", **bearer(secret)).status_code == 200
    assert client.post("/api/v1/jails/nope/stop/", **bearer(secret)).json()["error"] \
        == "not_done"
