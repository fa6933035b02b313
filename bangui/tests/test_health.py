"""/health/live, /health/ready and /metrics."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from bangui.models import WorkerLease

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_running(db):
    now = timezone.now()
    return WorkerLease.objects.create(holder="host:1:abcd", acquired_at=now, heartbeat_at=now,
                                      expires_at=now + timedelta(seconds=30))


def test_it_answers_live_before_setup_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_is_ready_when_everything_answers(client, f2b, worker_running):
    response = client.get("/health/ready")  # before setup: no redirect to the wizard
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "fail2ban": "ok", "worker": "ok"}


def test_logged_in_users_see_the_details(admin_client, f2b, worker_running):
    body = admin_client.get("/health/ready").json()
    assert {k: v["ok"] for k, v in body["checks"].items()} == {
        "database": True, "fail2ban": True, "worker": True}
    assert body["checks"]["worker"]["heartbeat_age_seconds"] < 5


def test_it_is_not_ready_while_fail2ban_is_down(client, f2b, worker_running, setup_done):
    f2b.stop()
    try:
        response = client.get("/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["down"] == ["fail2ban"]
        # Anonymous: the state, never the socket path or the error text.
        assert body["checks"]["fail2ban"] == "down"
        assert str(f2b.socket) not in response.content.decode()
        assert "no socket" not in response.content.decode()
    finally:
        f2b.start()
    assert client.get("/health/ready").status_code == 200


def test_it_is_not_ready_without_a_fresh_worker_heartbeat(client, f2b):
    assert client.get("/health/ready").json()["down"] == ["worker"]
    past = timezone.now() - timedelta(minutes=5)
    WorkerLease.objects.create(holder="host:1:abcd", acquired_at=past, heartbeat_at=past,
                               expires_at=past + timedelta(seconds=30))
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "down"


# --- metrics ---------------------------------------------------------------------------

_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})? '
                     r'(-?[0-9.]+(?:e[+-]?\d+)?|NaN|[+-]Inf)')


def parse_prometheus(text: str) -> dict[str, list[tuple[str, float]]]:
    """Strict enough for our output: HELP then TYPE before each family's
    samples, every sample line well-formed and of a declared family."""
    assert text.endswith("\n")
    families: dict[str, list[tuple[str, float]]] = {}
    helped = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in {"gauge", "counter", "untyped", "summary", "histogram"}
            assert name in helped and name not in families
            families[name] = []
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, line
            assert match[1] in families, line
            families[match[1]].append((match[2] or "", float(match[3])))
    return families


def test_it_hides_metrics_when_no_access_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = []
    assert client.get("/metrics").status_code == 404


def test_it_wants_the_metrics_token(client, settings, f2b):
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOW = []
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")


def test_it_checks_the_metrics_allow_list(client, settings, f2b):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    settings.METRICS_ALLOW = ["10.0.0.0/8", "127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200


def test_it_writes_prometheus_text(client, settings, f2b, f2b_client, worker_running):
    settings.METRICS_TOKEN = "s3cret-token"
    f2b_client.ban("sshd", ["192.0.2.10", "192.0.2.11"])
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    metrics = parse_prometheus(response.content.decode())
    assert metrics["bangui_fail2ban_up"] == [("", 1.0)]
    banned = dict(metrics["bangui_jail_banned"])
    assert banned['{jail="sshd"}'] == 2.0
    assert '{jail="nginx-http-auth"}' in dict(metrics["bangui_jail_failed"])
    assert metrics["bangui_archive_rows"] == [("", 0.0)]
    assert metrics["bangui_geo_cache_entries"] == [("", 0.0)]
    assert metrics["bangui_task_failures"] == [("", 0.0)]
    assert metrics["bangui_worker_up"] == [("", 1.0)]
    assert metrics["bangui_worker_heartbeat_age_seconds"][0][1] < 5
    assert {label for label, _ in metrics["bangui_geo_lookups_total"]} == {
        '{result="hit"}', '{result="miss"}'}


def test_it_reports_fail2ban_down_in_metrics(client, settings, f2b):
    settings.METRICS_TOKEN = "s3cret-token"
    f2b.stop()
    try:
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    finally:
        f2b.start()
    metrics = parse_prometheus(response.content.decode())
    assert metrics["bangui_fail2ban_up"] == [("", 0.0)]
    assert "bangui_jail_banned" not in metrics
    assert metrics["bangui_worker_up"] == [("", 0.0)]
