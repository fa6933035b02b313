"""/api/v1/bans/: the archive read with the dashboard's filters, and ban
and unban through the one dispatch, against a real sandboxed fail2ban."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry
from api.tests.conftest import bearer
from jails.models import BanEvent
from nodes.models import Node

BANS = "/api/v1/bans/"


def post(client, secret: str, body: dict, method: str = "post", **headers):
    return getattr(client, method)(BANS, data=json.dumps(body), content_type="application/json",
                                   **bearer(secret), **headers)


def archived(n: int, **fields) -> list[BanEvent]:
    now = timezone.now()
    return [BanEvent.objects.create(ip=f"192.0.2.{i + 1}", jail=fields.get("jail", "sshd"),
                                    banned_at=now - timedelta(minutes=i), bantime=600,
                                    **{k: v for k, v in fields.items() if k != "jail"})
            for i in range(n)]


# --- reading -----------------------------------------------------------------------
def test_it_lists_the_archive_newest_first_a_page_at_a_time(viewer_user, make_token, client):
    archived(5)
    secret = make_token(viewer_user)
    body = client.get(BANS, {"per_page": 2}, **bearer(secret)).json()
    assert body["count"] == 5 and body["pages"] == 3 and body["page"] == 1
    assert [r["ip"] for r in body["results"]] == ["192.0.2.1", "192.0.2.2"]
    assert body["previous"] is None and "page=2" in body["next"]
    second = client.get(body["next"], **bearer(secret)).json()
    assert [r["ip"] for r in second["results"]] == ["192.0.2.3", "192.0.2.4"]
    last = client.get(second["next"], **bearer(secret)).json()
    assert [r["ip"] for r in last["results"]] == ["192.0.2.5"] and last["next"] is None
    assert set(last["results"][0]) >= {"id", "node", "ip", "jail", "banned_at", "bantime",
                                       "origin", "country_code", "actor"}


def test_it_filters_as_the_dashboard_does(viewer_user, make_token, client):
    archived(3)
    archived(1, jail="nginx")
    secret = make_token(viewer_user)
    body = client.get(BANS, {"jail": "nginx"}, **bearer(secret)).json()
    assert [r["jail"] for r in body["results"]] == ["nginx"]
    assert client.get(BANS, {"ip": "192.0.2.3"}, **bearer(secret)).json()["count"] == 1


@pytest.mark.parametrize("query, field", [({"window": "2d"}, "window"),
                                          ({"per_page": 501}, "per_page"),
                                          ({"ip": "x'--"}, "ip"),
                                          ({"sort": "password"}, "sort")])
def test_a_bad_filter_is_a_400_naming_it(viewer_user, make_token, client, query, field):
    response = client.get(BANS, query, **bearer(make_token(viewer_user)))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid" and field in response.json()["detail"]


def test_an_unknown_api_path_is_a_json_404(viewer_user, make_token, client):
    response = client.get("/api/v1/nope/", **bearer(make_token(viewer_user)))
    assert response.status_code == 404 and response.json()["error"] == "not_found"


# --- writing -----------------------------------------------------------------------
def test_a_ban_lands_in_fail2ban_and_the_audit_names_the_owner(
        f2b, f2b_client, operator_user, make_token, client):
    secret = make_token(operator_user, "write")
    response = post(client, secret, {"jail": "sshd", "ip": "192.0.2.77"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["message"] == "Banned 192.0.2.77 in sshd."
    assert f2b_client.banned("sshd") == ["192.0.2.77"]
    entry = AuditEntry.objects.get(action="ban")
    assert entry.actor == operator_user and entry.actor_name == "operator"
    assert entry.result == "ok" and entry.ref == body["group"] and entry.source_ip
    assert BanEvent.objects.get(ip="192.0.2.77").actor == "operator"
    # and out again with DELETE, the same body
    response = post(client, secret, {"jail": "sshd", "ip": "192.0.2.77"}, "delete")
    assert response.status_code == 200, response.content
    assert f2b_client.banned("sshd") == []
    assert AuditEntry.objects.get(action="unban").actor_name == "operator"


def test_a_read_only_token_cannot_ban(f2b, f2b_client, operator_user, make_token, client):
    response = post(client, make_token(operator_user, "read"), {"jail": "sshd",
                                                                 "ip": "192.0.2.78"})
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "detail": "this token is read-only"}
    assert f2b_client.banned("sshd") == []


def test_a_viewers_write_token_cannot_ban(f2b, f2b_client, viewer_user, make_token, client):
    response = post(client, make_token(viewer_user, "write"), {"jail": "sshd",
                                                                "ip": "192.0.2.79"})
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert f2b_client.banned("sshd") == []
    response = client.post("/api/v1/jails/sshd/stop/", **bearer(make_token(viewer_user, "write")))
    assert response.status_code == 403


def test_a_supports_write_token_bans_and_unbans_but_runs_no_jail(
        f2b, f2b_client, support_user, make_token, client):
    secret = make_token(support_user, "write")
    assert post(client, secret, {"jail": "sshd", "ip": "192.0.2.84"}).status_code == 200
    assert f2b_client.banned("sshd") == ["192.0.2.84"]
    assert post(client, secret, {"jail": "sshd", "ip": "192.0.2.84"}, "delete").status_code \
        == 200
    response = client.post("/api/v1/jails/sshd/unban-all/", **bearer(secret))
    assert response.status_code == 403 and "operate" in response.json()["detail"]


def test_bad_input_is_a_400_refused_by_the_dispatch_and_audited(
        f2b, operator_user, make_token, client):
    secret = make_token(operator_user, "write")
    for force in (True, False):
        response = post(client, secret, {"jail": "sshd", "ip": "192.0.2.999", "force": force})
        assert response.status_code == 400 and response.json()["error"] == "invalid"
        assert "192.0.2.999" in response.json()["detail"]
    assert list(AuditEntry.objects.filter(action="ban").values_list("result", flat=True)) \
        == ["failed", "failed"]
    response = post(client, secret, {"jail": "sshd"})  # no ip
    assert response.status_code == 400 and "ip" in response.json()["detail"]


def test_a_ban_of_an_ignored_address_asks_for_force(f2b, f2b_client, operator_user,
                                                   make_token, client):
    f2b_client.add_ignore("sshd", "198.51.100.0/24")
    secret = make_token(operator_user, "write")
    response = post(client, secret, {"jail": "sshd", "ip": "198.51.100.7"})
    assert response.status_code == 409 and response.json()["error"] == "confirm"
    assert f2b_client.banned("sshd") == []
    response = post(client, secret, {"jail": "sshd", "ip": "198.51.100.7", "force": True})
    assert response.status_code == 200
    assert f2b_client.banned("sshd") == ["198.51.100.7"]
    f2b_client.remove_ignore("sshd", "198.51.100.0/24")


def test_a_ban_for_another_node_answers_202_with_its_ticket(f2b, operator_user, make_token,
                                                           client):
    now = timezone.now()
    Node.objects.create(name="b", holder="b:1:x", heartbeat_at=now,
                        expires_at=now + timedelta(minutes=5))
    secret = make_token(operator_user, "write")
    response = post(client, secret, {"jail": "sshd", "ip": "192.0.2.80", "node": "b"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["pending"] == ["b"] and body["nodes"][0]["pending"] is True
    assert AuditEntry.objects.get(action="ban", node="b").result == "pending"
    poll = client.get(body["poll"], **bearer(secret))
    assert poll.status_code == 202 and poll.json()["group"] == body["group"]
    assert client.get("/api/v1/commands/nope/", **bearer(secret)).status_code == 404
    down = post(client, secret, {"jail": "sshd", "ip": "192.0.2.80", "node": "zz"})
    assert down.status_code == 400 and down.json()["error"] == "not_done"


def test_an_idempotency_key_sends_a_write_once(f2b, f2b_client, operator_user, make_token,
                                              client):
    secret = make_token(operator_user, "write")
    body = {"jail": "sshd", "ip": "192.0.2.81"}
    first = post(client, secret, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(client, secret, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert AuditEntry.objects.filter(action="ban").count() == 1
    other = post(client, secret, {**body, "ip": "192.0.2.82"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 400 and other.json()["error"] == "idempotency_key_reused"
    assert f2b_client.banned("sshd") == ["192.0.2.81"]


def test_a_session_writes_only_with_its_csrf_token(f2b, f2b_client, operator_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_user)
    data = json.dumps({"jail": "sshd", "ip": "192.0.2.83"})
    response = client.post(BANS, data=data, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert f2b_client.banned("sshd") == []
    assert client.get(BANS).status_code == 200  # reads need no CSRF token
    token = client.get("/login/").cookies.get("csrftoken") or client.cookies.get("csrftoken")
    if token is None:
        from django.middleware.csrf import _get_new_csrf_string

        client.cookies["csrftoken"] = token = _get_new_csrf_string()
    else:
        token = token.value
    response = client.post(BANS, data=data, content_type="application/json",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert f2b_client.banned("sshd") == ["192.0.2.83"]
