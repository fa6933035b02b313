"""/health/live, /health/ready and /metrics."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_for
from nodes.models import Node

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_running(db):
    now = timezone.now()
    return Node.objects.create(name=django_settings.BANGUI_NODE, holder="host:1:abcd",
                               acquired_at=now, heartbeat_at=now,
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
    Node.objects.create(name=django_settings.BANGUI_NODE, holder="host:1:abcd", acquired_at=past,
                        heartbeat_at=past, expires_at=past + timedelta(seconds=30))
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "down"


# --- metrics ---------------------------------------------------------------------------

TOKEN = "s3cret-token"
# fail2ban-prometheus-exporter's names (f2b_*), which its Grafana dashboards query.
F2B_JAIL_FAMILIES = {
    "f2b_jail_banned_current": ("gauge", "Currently banned"),
    "f2b_jail_banned_total": ("counter", "Total banned"),
    "f2b_jail_failed_current": ("gauge", "Currently failed"),
    "f2b_jail_failed_total": ("counter", "Total failed"),
}


class Scrape:
    """/metrics parsed by prometheus_client's own parser: ``types`` and
    ``samples`` keyed by sample name (a counter's samples end in _total)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                assert labels not in self.samples.get(sample.name, {}), sample
                self.types[sample.name] = family.type
                self.samples.setdefault(sample.name, {})[labels] = sample.value

    def __contains__(self, name: str) -> bool:
        return name in self.samples

    def value(self, name: str) -> float:
        """The one unlabelled sample of ``name``."""
        assert list(self.samples[name]) == [()], self.samples[name]
        return self.samples[name][()]

    def per_jail(self, name: str) -> dict[str, float]:
        assert all(len(labels) == 1 and labels[0][0] == "jail" for labels in self.samples[name])
        return {labels[0][1]: value for labels, value in self.samples[name].items()}


def scrape(client) -> Scrape:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return Scrape(response.content.decode())


def fail2ban_client_status(f2b, jail: str) -> dict[str, int]:
    """The counters ``fail2ban-client status JAIL`` prints, as an admin reads them."""
    text = f2b.fail2ban_client("status", jail)
    return {field: int(re.search(rf"{field}:\s*(\d+)", text)[1])
            for _, field in F2B_JAIL_FAMILIES.values()}


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW = []


def test_it_hides_metrics_when_no_access_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = []
    assert client.get("/metrics").status_code == 404


def test_it_wants_the_metrics_token(client, metrics_on, f2b):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic czNjcmV0LXRva2Vu").status_code == 401
    assert "f2b_up" in scrape(client)


def test_it_checks_the_metrics_allow_list(client, settings, f2b):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    settings.METRICS_ALLOW = ["10.0.0.0/8", "127.0.0.0/8"]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "f2b_up" in Scrape(response.content.decode())


def test_it_wants_both_the_token_and_an_allowed_network_when_both_are_set(client, settings, f2b):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW = ["10.0.0.0/8"]
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    settings.METRICS_ALLOW = ["127.0.0.1"]
    assert client.get("/metrics").status_code == 401
    assert "f2b_up" in scrape(client)


def test_it_exports_the_fail2ban_exporter_families(client, metrics_on, f2b, f2b_client):
    f2b_client.ban("sshd", ["192.0.2.10", "192.0.2.11"])
    # One failure of a new address (maxretry 3: no ban yet). Earlier tests'
    # failures may still count within findtime: compare, not hard-code.
    failing = f2b_client.jail_status("nginx-http-auth").currently_failed
    f2b.write_failures("nginx-http-auth", "198.51.100.7", 1)
    assert wait_for(
        lambda: f2b_client.jail_status("nginx-http-auth").currently_failed == failing + 1)

    metrics = scrape(client)

    running = [j for j in f2b.jails if j.enabled]
    assert metrics.value("f2b_up") == 1
    assert metrics.value("f2b_jail_count") == len(running) == int(
        re.search(r"Number of jail:\s*(\d+)", f2b.fail2ban_client("status"))[1])
    assert metrics.samples["f2b_version"] == {
        (("exporter", f"bangui-{django_settings.BANGUI_VERSION}"), ("fail2ban", f2b.version())): 1}
    for name, (kind, _) in F2B_JAIL_FAMILIES.items():
        assert metrics.types[name] == kind, name
        assert set(metrics.per_jail(name)) == {j.name for j in running}, name
    for jail in running:
        status = fail2ban_client_status(f2b, jail.name)  # after the scrape: nothing moved
        for name, (_, field) in F2B_JAIL_FAMILIES.items():
            assert metrics.per_jail(name)[jail.name] == status[field], (name, jail.name)
        assert metrics.per_jail("f2b_config_jail_ban_time")[jail.name] == jail.bantime
        assert metrics.per_jail("f2b_config_jail_find_time")[jail.name] == jail.findtime
        assert metrics.per_jail("f2b_config_jail_max_retries")[jail.name] == jail.maxretry
    assert metrics.per_jail("f2b_jail_banned_current")["sshd"] == 2
    assert metrics.per_jail("f2b_jail_banned_total")["sshd"] >= 2
    assert metrics.per_jail("f2b_jail_failed_current")["nginx-http-auth"] == failing + 1
    assert metrics.per_jail("f2b_jail_failed_total")["nginx-http-auth"] >= 1
    # BanGUI's older names carry the same numbers.
    assert metrics.value("bangui_fail2ban_up") == 1
    assert metrics.per_jail("bangui_jail_banned") == metrics.per_jail("f2b_jail_banned_current")
    assert metrics.per_jail("bangui_jail_failed") == metrics.per_jail("f2b_jail_failed_current")
    assert metrics.per_jail("bangui_jail_banned_total") == metrics.per_jail(
        "f2b_jail_banned_total")
    assert metrics.types["bangui_jail_banned_total"] == "counter"


def test_it_keeps_the_bangui_families(client, metrics_on, f2b, worker_running):
    from geo.models import GeoCacheEntry
    from jails.models import SyncState

    now = timezone.now()
    for ip, source in (("192.0.2.1", "mmdb"), ("192.0.2.2", "mmdb"), ("10.0.0.1", "local")):
        GeoCacheEntry.objects.create(ip=ip, source=source, resolved_at=now, last_seen=now)
    SyncState.objects.create(db_path=str(f2b.dbfile), last_success_at=now - timedelta(minutes=2))

    metrics = scrape(client)

    assert metrics.value("bangui_archive_rows") == 0
    assert 120 <= metrics.value("bangui_archive_sync_lag_seconds") < 180
    assert metrics.value("bangui_archive_last_sync_timestamp_seconds") == int(
        (now - timedelta(minutes=2)).timestamp())
    assert metrics.value("bangui_geo_cache_entries") == 3
    assert metrics.samples["bangui_geo_cache_source_entries"] == {
        (("source", "mmdb"),): 2, (("source", "http"),): 0, (("source", "local"),): 1,
        (("source", "none"),): 0}
    assert metrics.value("bangui_task_failures") == 0
    assert "bangui_task_last_failure_timestamp_seconds" not in metrics
    assert metrics.value("bangui_worker_up") == 1
    assert metrics.value("bangui_worker_heartbeat_age_seconds") < 5
    assert metrics.value("bangui_metrics_scrape_seconds") >= 0
    # Nothing one process counts by itself: the geo lookup counter is gone,
    # and a fresh registry per scrape leaves out prometheus_client's
    # per-process collectors (python_gc_*, process_*, python_info).
    assert "bangui_geo_lookups_total" not in metrics
    assert not [name for name in metrics.samples
                if not name.startswith(("bangui_", "f2b_"))]


def test_two_scrapes_agree(client, metrics_on, f2b, f2b_client, worker_running):
    """What a scrape says comes from fail2ban and the database, so any
    process answers the same (but the timings)."""
    f2b_client.ban("nginx-http-auth", ["203.0.113.9"])
    timings = {"bangui_metrics_scrape_seconds", "bangui_worker_heartbeat_age_seconds",
               "bangui_node_heartbeat_age_seconds"}
    first, second = scrape(client), scrape(client)
    assert {k: v for k, v in first.samples.items() if k not in timings} == {
        k: v for k, v in second.samples.items() if k not in timings}


def test_it_reports_fail2ban_down_in_metrics(client, metrics_on, f2b):
    f2b.stop()
    try:
        metrics = scrape(client)  # a 200 all the same
    finally:
        f2b.start()
    assert metrics.value("f2b_up") == 0
    assert metrics.value("bangui_fail2ban_up") == 0
    fail2ban_families = [name for name in metrics.samples
                         if name.startswith(("f2b_", "bangui_jail_"))]
    assert fail2ban_families == ["f2b_up"]
    assert metrics.value("bangui_worker_up") == 0
    assert "bangui_archive_rows" in metrics
