"""Render cost (issue #29): each optimisation keeps what the pages show.

Each test builds a few hundred bans inline (enough for every chart bucket,
table row and rollup day to matter) and checks the page's content against
a count made the plain way, over the archive's rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jails.archive import queries
from jails.constants import WINDOW_BUCKET, Window
from jails.models import BanEvent, ip_sort_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 12, 30, tzinfo=UTC)


@pytest.fixture
def year_of_bans():
    """300 bans over 400 days, one in ten permanent, one in seven a range."""
    rows = []
    for n in range(300):
        ip = f"198.51.{n % 7}.0/24" if n % 7 == 0 else f"192.0.{n % 50}.{n % 200 + 1}"
        rows.append(BanEvent(ip=ip, ip_key=ip_sort_key(ip), jail=("sshd", "postfix")[n % 2],
                             country_code=("DE", "US", None)[n % 3],
                             banned_at=NOW - timedelta(hours=n * 32 + n % 5),
                             bantime=-1 if n % 10 == 0 else 600))
    BanEvent.objects.bulk_create(rows)
    return rows


def _plain_buckets(rows, window: str, keep) -> Counter:
    unit, size = WINDOW_BUCKET[Window(window)]
    start = NOW - {"24h": timedelta(days=1), "7d": timedelta(days=7),
                   "30d": timedelta(days=30), "365d": timedelta(days=365)}[window]
    out: Counter = Counter()
    for row in rows:
        if start <= row.banned_at <= NOW + queries.FUTURE_SLACK and keep(row):
            out[queries._floor(row.banned_at, unit, size)] += 1
    return out


@pytest.mark.parametrize("window", ["7d", "30d", "365d"])
@pytest.mark.parametrize("kind", [None, "permanent", "range"])
def test_it_charts_the_kind_filter_over_time(year_of_bans, window, kind):
    """The chart once dropped the table's "kind" filter (a shadowed name):
    a "permanent bans" dashboard charted every ban."""
    keep = {None: lambda r: True, "permanent": lambda r: r.bantime < 0,
            "range": lambda r: "/" in r.ip}[kind]
    buckets = queries.bans_over_time(window, kind=kind, now=NOW)
    expected = _plain_buckets(year_of_bans, window, keep)
    assert {b.start: b.count for b in buckets if b.count} == dict(expected)
    total = queries.ban_table(window, kind=kind, now=NOW).paginator.count
    assert sum(b.count for b in buckets) == total


def test_the_year_chart_reads_the_rollup_not_every_ban(year_of_bans):
    """Unfiltered, the year's chart sums the daily rollup and reads only the
    window's two edge days from the archive (it read the whole year: half a
    second at a million bans)."""
    with CaptureQueriesContext(connection) as ctx:
        buckets = queries.bans_over_time("365d", now=NOW)
    archive = [q["sql"] for q in ctx.captured_queries if "jails_banevent" in q["sql"]]
    assert any("jails_banday" in q["sql"] for q in ctx.captured_queries)
    assert len(archive) == 1 and " OR " in archive[0]  # the two edges, one query
    assert {b.start: b.count for b in buckets if b.count} == dict(
        _plain_buckets(year_of_bans, "365d", lambda r: True))
