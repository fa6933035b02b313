"""The dashboard at /: ban table, filters, charts, ban/unban from the table."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from jails.archive import charts
from jails.models import BanEvent

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _ban(ip, ago, jail="sshd", country="DE", origin="detected", **extra):
    return BanEvent.objects.create(ip=ip, jail=jail, banned_at=timezone.now() - ago,
                                   bantime=600, country_code=country, origin=origin, **extra)


@pytest.fixture
def bans():
    h = timedelta(hours=1)
    return [
        _ban("192.0.2.1", 1 * h, ban_count=3),
        _ban("192.0.2.2", 2 * h, jail="nginx-http-auth", country="US"),
        _ban("192.0.2.3", 3 * h, origin="manual", actor="alice"),
        _ban("198.51.100.4", 4 * h, country=None),
        _ban("198.51.100.5", timedelta(days=3), country="US"),
        _ban("2001:db8::6", timedelta(days=200), jail="nginx-http-auth", country="FR",
             origin="blocklist"),
    ]


@pytest.fixture
def dead_f2b(settings, tmp_path):
    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")


def _ips(response) -> list[str]:
    return re.findall(r'<tr data-ip="([^"]+)"', response.content.decode())


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.4"]),
    ("window=7d", ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.4", "198.51.100.5"]),
    ("window=365d&jail=nginx-http-auth", ["192.0.2.2", "2001:db8::6"]),
    ("window=7d&country=us", ["192.0.2.2", "198.51.100.5"]),
    ("country=unknown", ["198.51.100.4"]),
    ("origin=manual", ["192.0.2.3"]),
    ("window=365d&origin=blocklist", ["2001:db8::6"]),
    ("ip=198.51.", ["198.51.100.4"]),
    ("ip=192.0.2.2", ["192.0.2.2"]),
])
def test_it_filters_the_ban_table(admin_client, dead_f2b, bans, query, expected):
    response = admin_client.get(f"/?{query}", **HX)
    assert response.status_code == 200
    assert _ips(response) == expected


@pytest.mark.parametrize(("sort", "expected"), [
    ("ip", ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.4"]),
    ("-ip", ["198.51.100.4", "192.0.2.3", "192.0.2.2", "192.0.2.1"]),
    ("banned_at", ["198.51.100.4", "192.0.2.3", "192.0.2.2", "192.0.2.1"]),
    ("-ban_count", ["192.0.2.1", "198.51.100.4", "192.0.2.3", "192.0.2.2"]),
])
def test_it_sorts_by_column(admin_client, dead_f2b, bans, sort, expected):
    assert _ips(admin_client.get(f"/?sort={sort}", **HX)) == expected


def test_it_links_sortable_headers_with_the_filters_kept(admin_client, dead_f2b, bans):
    body = admin_client.get("/?jail=sshd&sort=ip", **HX).content.decode()
    assert 'aria-sort="ascending"' in body
    assert 'href="?jail=sshd&amp;sort=-ip"' in body  # clicking again reverses
    assert 'href="?jail=sshd&amp;sort=jail"' in body


def test_it_paginates_on_the_server(admin_client, dead_f2b):
    now = timezone.now()
    BanEvent.objects.bulk_create([
        BanEvent(ip=f"203.0.113.{i}", jail="sshd", banned_at=now - timedelta(minutes=i),
                 bantime=600) for i in range(1, 26)])
    first = admin_client.get("/?per_page=10", **HX)
    assert _ips(first) == [f"203.0.113.{i}" for i in range(1, 11)]
    assert 'href="?page=2&amp;per_page=10"' in first.content.decode()
    third = admin_client.get("/?per_page=10&page=3", **HX)
    assert _ips(third) == [f"203.0.113.{i}" for i in range(21, 26)]
    assert "21\u201325 of 25" in third.content.decode()
    # a page past the end shows the last one
    assert _ips(admin_client.get("/?per_page=10&page=99", **HX)) == _ips(third)


@pytest.mark.parametrize("query", ["", "window=30d&jail=sshd&sort=-ip&page=1", "ip=192.0.2."])
def test_it_serves_page_and_fragment_from_one_url(admin_client, dead_f2b, bans, query):
    full = admin_client.get(f"/?{query}")
    fragment = admin_client.get(f"/?{query}", **HX)
    assert full.status_code == fragment.status_code == 200
    assert "<html" in full.content.decode() and 'id="ban-table"' in full.content.decode()
    body = fragment.content.decode()
    assert "<html" not in body and body.lstrip().startswith('<section id="ban-table"')
    # charts and the sort field follow the filters out of band
    assert 'id="charts" class="charts" aria-label="Charts" hx-swap-oob="true"' in body
    for response in (full, fragment):
        assert "HX-Request" in response["Vary"]


def test_it_gives_the_full_page_to_history_restore(admin_client, dead_f2b, bans):
    response = admin_client.get("/?jail=sshd", HTTP_HX_REQUEST="true",
                                HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


@pytest.mark.parametrize("query", [
    "window=5y", "page=abc", "page=-3", "per_page=7", "sort=password", "origin=evil",
    "jail=;rm -rf", "country=Atlantis", "ip=<script>", "page=99999999999999999999",
    "window=24h&window=7d&jail=" + "x" * 500,
])
def test_it_ignores_invalid_query_values(admin_client, dead_f2b, bans, query):
    for extra in ({}, HX):
        response = admin_client.get(f"/?{query}", **extra)
        assert response.status_code == 200
        assert "Ignored" in response.content.decode()
    assert _ips(response) or "No bans" in response.content.decode()


def test_it_explains_an_empty_window(admin_client, f2b):
    body = admin_client.get("/").content.decode()
    assert "No bans in the last 24 hours." in body
    assert "fail2ban is watching 2 jails." in body


def test_it_explains_an_empty_filter(admin_client, dead_f2b, bans):
    body = admin_client.get("/?jail=postfix", **HX).content.decode()
    assert "No bans in the last 24 hours matching these filters." in body
    assert "Clear the filters" in body


def test_it_shows_unknown_live_state_when_fail2ban_is_down(admin_client, dead_f2b, bans):
    response = admin_client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "whether these IPs are still banned is unknown" in body
    assert body.count('<td data-testid="now"><span class="muted">unknown</span>') == 4
    assert "fail2ban unreachable" in body  # the status bar


def test_it_shows_time_left_from_one_read_of_fail2ban(admin_client, f2b_client, bans,
                                                      monkeypatch):
    from jails.archive import sync as archive
    from jails.live import state as live

    f2b_client.ban("sshd", ["192.0.2.50"])
    archive.record_manual("192.0.2.50", "sshd", "admin", client=f2b_client)
    calls = []
    real = live.read
    monkeypatch.setattr(live, "read",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    body = admin_client.get("/?per_page=100", **HX).content.decode()
    assert len(calls) == 1
    row = body.split('<tr data-ip="192.0.2.50"')[1].split("</tr>")[0]
    assert 'class="badge badge-bad">banned</span>' in row and "left" in row
    assert "badge-origin-manual" in row
    old = body.split('<tr data-ip="192.0.2.1"')[1].split("</tr>")[0]
    assert "expired" in old


def test_it_renders_charts_as_inline_svg_without_styles(admin_client, dead_f2b, bans):
    body = admin_client.get("/?window=7d").content.decode()
    assert body.count('<svg class="chart"') == 3
    assert "<title id=\"chart-time-title\">Bans over time, last 7 days</title>" in body
    assert 'class="chart-bar"' in body
    assert "Germany" in body and 'src="/static/flags/de.svg"' in body  # flag + name
    assert "style=" not in body  # the CSP forbids inline styles
    assert '<table class="visually-hidden"><caption>Bans per period</caption>' in body


def test_it_computes_column_geometry():
    chart = charts.columns([("a", 0), ("b", 3), ("c", 6)], width=340, height=120, left=40,
                           right=0, top=0, bottom=20)
    assert [b.count for b in chart.bars] == [0, 3, 6]
    assert chart.bars[0].height == 0
    assert chart.bars[2].height == 60  # 6 of a nice maximum of 10, on a 100-high plot
    assert chart.bars[2].y == 40
    assert [t.text for t in chart.y_ticks] == ["0", "5", "10"]


def test_it_computes_bar_geometry():
    chart = charts.bars([("DE", 10, "?country=DE"), ("US", 5)], width=300, label_width=100,
                        value_width=0)
    assert [r.width for r in chart.rows] == [200, 100]
    assert chart.rows[0].href == "?country=DE" and chart.rows[1].href == ""
    assert chart.total == 15
    assert charts.nice_max(0) == 1 and charts.nice_max(7) == 10 and charts.nice_max(11) == 20


def _count(client, url, **extra):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **extra).status_code == 200
    return ctx.captured_queries


@pytest.mark.parametrize("extra", [{}, HX], ids=["page", "fragment"])
def test_it_makes_the_same_few_queries_for_any_page_size(admin_client, f2b,
                                                         django_assert_max_num_queries, extra):
    now = timezone.now()
    BanEvent.objects.bulk_create([
        BanEvent(ip=f"203.0.{i // 250}.{i % 250}", jail=("sshd", "nginx-http-auth")[i % 2],
                 banned_at=now - timedelta(minutes=i), bantime=600,
                 country_code=("DE", "US", None)[i % 3]) for i in range(300)])
    admin_client.get("/")  # warm per-process caches (setup gate, geo)
    small = _count(admin_client, "/?per_page=10", **extra)
    with django_assert_max_num_queries(len(small)):
        large = _count(admin_client, "/?per_page=100", **extra)
    assert len(small) == len(large) <= 15
    writes = [q["sql"] for q in small + large
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []


def test_it_hides_actions_from_viewers_and_forbids_them(viewer_client, f2b_client, bans):
    f2b_client.ban("sshd", ["192.0.2.1"])
    body = viewer_client.get("/").content.decode()
    assert 'id="ban-table"' in body
    assert reverse("dashboard_unban") not in body and reverse("dashboard_ban") not in body
    assert viewer_client.post(reverse("dashboard_unban"),
                              {"ip": "192.0.2.1", "jail": "sshd"}).status_code == 403
    assert viewer_client.post(reverse("dashboard_ban"),
                              {"ip": "192.0.2.9", "jail": "sshd"}).status_code == 403
    assert f2b_client.jails_of_ip("192.0.2.1") == ["sshd"]


def test_it_offers_the_manual_ban_form_with_a_jail_select(operator_client, f2b):
    body = operator_client.get("/").content.decode()
    assert '<select name="jail" id="ban-jail"' in body and '<option value="sshd"' in body
    assert 'hx-confirm="Ban this IP or network now?"' in body


def test_it_bans_and_unbans_through_fail2ban(operator_client, f2b_client):
    response = operator_client.post(reverse("dashboard_ban") + "?window=7d",
                                    {"ip": "203.0.113.9", "jail": "sshd"}, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Banned 203.0.113.9 in sshd." in body
    # The answer goes beside the form (out of band), not 1,000 px above it.
    beside = body.split('<div id="manual-ban-result" data-reveal hx-swap-oob="true"', 1)[1]
    assert "Banned 203.0.113.9 in sshd." in beside.split("</div>", 1)[0]
    assert f2b_client.jails_of_ip("203.0.113.9") == ["sshd"]
    event = BanEvent.objects.get(ip="203.0.113.9")
    assert (event.jail, event.origin, event.actor) == ("sshd", "manual", "operator")
    assert '<tr data-ip="203.0.113.9"' in body  # archived at once, before any sync
    assert AuditEntry.objects.filter(action="ban", target="sshd 203.0.113.9",
                                     result="ok", actor_name="operator").exists()

    response = operator_client.post(reverse("dashboard_unban") + "?window=7d",
                                    {"ip": "203.0.113.9", "jail": "sshd"}, **HX)
    assert "Unbanned 203.0.113.9 from sshd." in response.content.decode()
    assert f2b_client.jails_of_ip("203.0.113.9") == []
    event.refresh_from_db()
    assert event.unbanned_at is not None and event.unbanned_by == "operator"
    assert AuditEntry.objects.filter(action="unban", target="sshd 203.0.113.9",
                                     result="ok").exists()


def test_it_redirects_plain_posts_back_with_the_filters(operator_client, f2b_client):
    response = operator_client.post(reverse("dashboard_ban") + "?window=30d&sort=ip",
                                    {"ip": "203.0.113.10", "jail": "sshd"})
    assert response.status_code == 302
    assert response["Location"] == "/?window=30d&sort=ip"
    page = operator_client.get(response["Location"]).content.decode()
    assert "Banned 203.0.113.10 in sshd." in page


@pytest.mark.parametrize(("data", "error"), [
    ({"ip": "203.0.113.11", "jail": "nope"}, "no jail named &#x27;nope&#x27; is running"),
    ({"ip": "not-an-ip", "jail": "sshd"}, "is not a valid IPv4 or IPv6 address"),
    ({"ip": "203.0.113.11", "jail": "--evil"}, "is not a valid jail name"),
])
def test_it_shows_ban_errors_inline_and_changes_nothing(operator_client, f2b_client,
                                                        data, error):
    response = operator_client.post(reverse("dashboard_ban"), data, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="msg msg-error" role="alert"' in body and error in body
    assert not BanEvent.objects.exists()
    assert f2b_client.jails_of_ip("203.0.113.11") == []
    assert AuditEntry.objects.filter(action="ban", result="failed").count() == 1


def test_it_reports_an_unreachable_fail2ban_inline(operator_client, dead_f2b):
    response = operator_client.post(reverse("dashboard_unban"),
                                    {"ip": "203.0.113.12", "jail": "sshd"}, **HX)
    assert response.status_code == 200
    assert "Could not unban 203.0.113.12" in response.content.decode()
    assert AuditEntry.objects.get(action="unban").result == "failed"


def test_it_warns_when_fail2ban_purges_before_the_archive_syncs(admin_client, f2b_client):
    f2b_client.set_dbpurgeage(60)
    try:
        body = admin_client.get("/").content.decode()
    finally:
        f2b_client.set_dbpurgeage(86400)
    assert 'data-testid="purge-warning"' in body
    assert "fail2ban forgets bans after 1 minute" in body
    assert 'data-testid="purge-warning"' not in admin_client.get("/").content.decode()


def test_it_has_the_ip_search_box_in_the_header(admin_client, dead_f2b):
    body = admin_client.get("/").content.decode()
    assert '<form class="ip-search" method="get" action="/ip/"' in body
    assert 'name="q" data-ip-search' in body
