"""Dashboard query functions over archive rows built inline."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from jails.archive import queries as dashboard
from jails.models import BanEvent

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 12, 30, tzinfo=UTC)  # a Wednesday


def _ban(ip, ago, jail="sshd", country="DE", origin="detected", **extra):
    return BanEvent.objects.create(ip=ip, jail=jail, banned_at=NOW - ago, bantime=600,
                                   country_code=country, origin=origin, **extra)


@pytest.fixture
def bans():
    h = timedelta(hours=1)
    return [
        _ban("192.0.2.1", 1 * h),
        _ban("192.0.2.2", 2 * h, jail="nginx-http-auth", country="US"),
        _ban("192.0.2.3", 3 * h, origin="manual", actor="alice"),
        _ban("198.51.100.4", 30 * h, country=None),
        _ban("198.51.100.5", timedelta(days=20), country="US"),
        _ban("2001:db8::6", timedelta(days=200), jail="nginx-http-auth", country="FR",
             origin="blocklist"),
        _ban("192.0.2.7", timedelta(days=400)),  # outside every window
    ]


def _ips(table):
    return [row.ip for row in table.object_list]


def test_it_lists_the_window_newest_first(bans):
    assert _ips(dashboard.ban_table("24h", now=NOW)) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert dashboard.ban_table("7d", now=NOW).paginator.count == 4
    assert dashboard.ban_table("30d", now=NOW).paginator.count == 5
    assert dashboard.ban_table("365d", now=NOW).paginator.count == 6


@pytest.mark.parametrize(("filters", "expected"), [
    ({"jail": "nginx-http-auth"}, ["192.0.2.2", "2001:db8::6"]),
    ({"country": "us"}, ["192.0.2.2", "198.51.100.5"]),
    ({"country": "unknown"}, ["198.51.100.4"]),
    ({"origin": "manual"}, ["192.0.2.3"]),
    ({"origin": "blocklist"}, ["2001:db8::6"]),
    ({"ip_query": "198.51.100.5"}, ["198.51.100.5"]),
    ({"ip_query": "198.51."}, ["198.51.100.4", "198.51.100.5"]),
    ({"ip_query": "2001:DB8::6"}, ["2001:db8::6"]),
    ({"ip_query": "192.0.2.1"}, ["192.0.2.1"]),  # exact: not 192.0.2.1x
    ({"jail": "sshd", "country": "DE"}, ["192.0.2.1", "192.0.2.3"]),
])
def test_it_filters(bans, filters, expected):
    assert _ips(dashboard.ban_table("365d", now=NOW, **filters)) == expected


def test_it_refuses_an_unknown_origin_window_or_sort(bans):
    with pytest.raises(ValueError):
        dashboard.ban_table("365d", origin="martian", now=NOW)
    with pytest.raises(ValueError):
        dashboard.ban_table("2d", now=NOW)
    with pytest.raises(ValueError, match="cannot sort by 'matches'"):
        dashboard.ban_table("365d", sort="matches", now=NOW)


def test_it_sorts(bans):
    assert _ips(dashboard.ban_table("365d", sort="ip", now=NOW)) == [
        "192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.4", "198.51.100.5", "2001:db8::6"]
    assert _ips(dashboard.ban_table("365d", sort="banned_at", now=NOW))[0] == "2001:db8::6"
    by_jail = dashboard.ban_table("365d", sort="-jail", now=NOW)
    assert [r.jail for r in by_jail.object_list][:4] == ["sshd"] * 4


def test_it_paginates_with_a_few_queries(bans, django_assert_num_queries):
    # the total: whole days from the rollup + the partial edge days; the page
    with django_assert_num_queries(3):
        page = dashboard.ban_table("365d", page=2, per_page=4, now=NOW)
    with django_assert_num_queries(2):  # 24h has no whole day: count + page
        dashboard.ban_table("24h", page=1, per_page=4, now=NOW)
    assert (page.paginator.count, page.paginator.num_pages, page.number) == (6, 2, 2)
    assert _ips(page) == ["198.51.100.5", "2001:db8::6"]
    assert page.has_previous() and not page.has_next()
    assert (page.start_index(), page.end_index()) == (5, 6)
    # Past the end: the last page. Garbage per_page is bounded.
    assert dashboard.ban_table("365d", page=99, per_page=4, now=NOW).number == 2
    assert dashboard.ban_table("365d", per_page=10_000, now=NOW).paginator.per_page == 500


def test_an_empty_window_is_one_empty_page():
    table = dashboard.ban_table("24h", now=NOW)
    assert (table.paginator.count, list(table), table.paginator.num_pages,
            table.start_index()) == (0, [], 1, 0)


def test_it_counts_bans_per_hour_zero_filled_over_24h(bans):
    buckets = dashboard.bans_over_time("24h", now=NOW)
    assert len(buckets) == 25  # 12:00 yesterday (partial) .. 12:00 today (partial)
    assert buckets[0].start == datetime(2026, 11, 17, 12, tzinfo=UTC)
    assert buckets[-1].start == datetime(2026, 11, 18, 12, tzinfo=UTC)
    counts = {b.start.hour: b.count for b in buckets if b.count}
    assert counts == {11: 1, 10: 1, 9: 1}
    assert sum(b.count for b in buckets) == 3


def test_it_uses_six_hour_daily_and_weekly_buckets(bans):
    week = dashboard.bans_over_time("7d", now=NOW)
    assert all(b.start.hour % 6 == 0 for b in week)
    assert all(b2.start - b1.start == timedelta(hours=6) for b1, b2 in itertools.pairwise(week))
    assert sum(b.count for b in week) == 4
    assert week[-1].start == datetime(2026, 11, 18, 12, tzinfo=UTC)
    assert next(b for b in week if b.start == datetime(2026, 11, 18, 6, tzinfo=UTC)).count == 3

    month = dashboard.bans_over_time("30d", now=NOW)
    assert len(month) == 31
    assert sum(b.count for b in month) == 5

    year = dashboard.bans_over_time("365d", now=NOW)
    assert all(b.start.weekday() == 0 and b.start.hour == 0 for b in year)
    assert year[-1].start == datetime(2026, 11, 16, tzinfo=UTC)
    assert sum(b.count for b in year) == 6
    assert len(year) in (53, 54)


def test_charts_take_the_table_filters(bans):
    buckets = dashboard.bans_over_time("365d", jail="nginx-http-auth", now=NOW)
    assert sum(b.count for b in buckets) == 2


def test_it_ranks_countries_and_jails(bans):
    assert [(c.country_code, c.count) for c in dashboard.top_countries("365d", now=NOW)] == [
        ("DE", 2), ("US", 2), ("FR", 1)]
    assert [c.country_code for c in dashboard.top_countries("365d", limit=1, now=NOW)] == ["DE"]
    assert [(j.jail, j.count) for j in dashboard.bans_by_jail("365d", now=NOW)] == [
        ("sshd", 4), ("nginx-http-auth", 2)]
    assert [(j.jail, j.count) for j in dashboard.bans_by_jail("24h", country="US", now=NOW)] == [
        ("nginx-http-auth", 1)]


def test_it_sorts_ips_numerically_v4_then_v6():
    from jails.models import BanEvent, ip_sort_key

    ips = ["10.0.0.10", "9.0.0.1", "10.0.0.9", "2001:db8::10", "2001:db8::9", "::1",
           "192.168.1.1", "2001:db8::a"]
    for ip in ips:
        BanEvent.objects.create(ip=ip, jail="sshd", banned_at=NOW - timedelta(hours=1),
                                bantime=600)
    assert _ips(dashboard.ban_table("24h", sort="ip", now=NOW)) == [
        "::1", "9.0.0.1", "10.0.0.9", "10.0.0.10", "192.168.1.1", "2001:db8::9",
        "2001:db8::a", "2001:db8::10"]
    assert _ips(dashboard.ban_table("24h", sort="-ip", now=NOW))[0] == "2001:db8::10"
    assert ip_sort_key("not an ip") == ""
