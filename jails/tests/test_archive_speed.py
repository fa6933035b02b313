"""What makes the archive fast at a million rows, checked for correctness
(timings live in bench/archive.py and bench/map.py, never in tests):
deferred indexes on a first backfill, the read-through cache of long-window
aggregates, and the SQLite prefix range of the IP search."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from jails.archive import map_data
from jails.archive import queries as dashboard
from jails.archive import sync as archive
from jails.models import BanEvent
from jails.tests import fail2ban_db
from jails.tests.fail2ban_db import ban_data

T0 = 1_790_000_000


def _rows(n: int, start: int = 0) -> list[tuple]:
    return [("sshd", f"192.0.{(start + i) // 250}.{(start + i) % 250 + 1}", T0 + start + i,
             600, 1, ban_data()) for i in range(n)]


def _secondary() -> set[str]:
    return {index.name for index in BanEvent._meta.indexes}


@pytest.fixture
def source(tmp_path):
    return fail2ban_db.create(tmp_path / "fail2ban.sqlite3")


@pytest.mark.django_db(transaction=True)
def test_a_first_backfill_defers_the_indexes_and_creates_them_after(source, monkeypatch):
    fail2ban_db.add_bans(source, _rows(30))
    monkeypatch.setattr(archive, "DEFER_INDEXES_MIN_ROWS", 10)
    dropped = []
    real_drop = archive._drop_secondary_indexes
    monkeypatch.setattr(archive, "_drop_secondary_indexes",
                        lambda: (dropped.append(True), real_drop()))

    result = archive.sync(str(source), batch_size=7, fill_geo=False)

    assert dropped == [True]
    assert result.inserted == 30 and BanEvent.objects.count() == 30
    assert _secondary() <= archive._index_names()
    if connection.vendor == "sqlite":  # analyzed for the planner after the backfill
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = %s",
                           [BanEvent._meta.db_table])
            assert cursor.fetchone()[0] > 0
    # The next (incremental) run keeps them and does not drop anything.
    fail2ban_db.add_bans(source, _rows(20, start=30))
    assert archive.sync(str(source), fill_geo=False).inserted == 20
    assert dropped == [True]
    assert _secondary() <= archive._index_names()


@pytest.mark.django_db(transaction=True)
def test_a_crashed_backfill_gets_its_indexes_back_and_resumes(source, monkeypatch):
    fail2ban_db.add_bans(source, _rows(30))
    monkeypatch.setattr(archive, "DEFER_INDEXES_MIN_ROWS", 10)
    # A backfill writes several read pages per transaction: pages of 5, 10 rows.
    monkeypatch.setattr(archive, "BACKFILL_WRITE_ROWS", 10)
    real_store, calls = archive._store_batch, []

    def failing_store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(archive, "_store_batch", failing_store)
    with pytest.raises(RuntimeError):
        archive.sync(str(source), batch_size=5, fill_geo=False)
    assert BanEvent.objects.count() == 10  # the first write, committed with its cursor
    assert archive.SyncState.objects.get().last_rowid == 10
    assert _secondary() <= archive._index_names()  # restored in finally

    # A process killed mid-backfill leaves no finally behind: the next run
    # creates whatever is missing before it starts.
    with connection.schema_editor() as editor:
        editor.remove_index(BanEvent, BanEvent._meta.indexes[0])
    monkeypatch.setattr(archive, "_store_batch", real_store)
    result = archive.sync(str(source), batch_size=10, fill_geo=False)
    assert result.inserted == 20
    assert BanEvent.objects.count() == 30
    assert len(set(BanEvent.objects.values_list("ip", "banned_at"))) == 30
    assert _secondary() <= archive._index_names()


@pytest.mark.django_db
def test_a_small_first_sync_keeps_the_indexes(source, monkeypatch):
    fail2ban_db.add_bans(source, _rows(5))
    monkeypatch.setattr(archive, "_drop_secondary_indexes",
                        lambda: pytest.fail("indexes dropped for 5 rows"))
    assert archive.sync(str(source), fill_geo=False).inserted == 5
    assert archive.ensure_indexes() == []


@pytest.fixture
def locmem(settings):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "archive-aggregate-test"}}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _ban(ip: str, ago: timedelta, country: str | None = "DE", jail: str = "sshd"):
    return BanEvent.objects.create(ip=ip, jail=jail, country_code=country, bantime=600,
                                   banned_at=timezone.now() - ago)


@pytest.mark.django_db
def test_aggregates_the_rollup_cannot_answer_are_cached_for_a_minute(
        locmem, django_assert_num_queries):
    _ban("192.0.2.1", timedelta(days=3))

    def slow():
        return (dashboard.bans_over_time("365d", ip_query="192.0.2."),
                dashboard.top_countries("365d", jail="sshd"),
                dashboard.bans_by_jail("30d", country="DE"))

    first = slow()
    _ban("192.0.2.2", timedelta(days=2))
    with django_assert_num_queries(0):
        again = slow()
    assert again == first
    assert sum(b.count for b in again[0]) == 1
    # What the rollup answers is read afresh every time: the new ban is there.
    assert sum(b.count for b in dashboard.bans_over_time("365d")) == 2
    assert [c.count for c in dashboard.top_countries("365d")] == [2]
    assert [c.bans for c in map_data.bans_by_country("30d")] == [2]
    # An explicit now bypasses the cache.
    assert sum(b.count for b in dashboard.bans_over_time(
        "365d", ip_query="192.0.2.", now=timezone.now())) == 2


@pytest.mark.django_db
def test_short_windows_read_the_current_hour_at_once_and_settled_hours_within_a_minute(
        locmem):
    """The 24-hour figures keep the archive's whole past hours a minute
    (rollup._archive_counts); a new ban lands in the current hour, which is
    always read. A late row in a settled hour shows once the minute is up."""
    assert dashboard.top_countries("24h") == []
    now = timezone.now()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    _ban("192.0.2.1", min(timedelta(seconds=1), now - this_hour))
    assert [(c.country_code, c.count) for c in dashboard.top_countries("24h")] == [("DE", 1)]
    _ban("192.0.2.2", timedelta(hours=3), country="FR")  # a late sync row
    assert [c.country_code for c in dashboard.top_countries("24h")] == ["DE"]
    assert dashboard.summary("24h", now=timezone.now()).total == 2  # uncached: seen
    cache.clear()  # the minute is up
    assert [c.country_code for c in dashboard.top_countries("24h")] == ["DE", "FR"]
    assert dashboard.top_countries("24h", now=timezone.now())[1].country_code == "FR"


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "expected"), [
    ("192.0.2.", ["192.0.2.1", "192.0.2.19"]),
    ("192.0.2.1", ["192.0.2.1"]),  # an exact address
    ("2001:DB8:", ["2001:db8::5"]),
    ("192.0.2.9", []),
    ("19", ["192.0.2.1", "192.0.2.19", "192.0.3.1", "198.51.100.7"]),
    ("10.", ["10.0.0.1"]),
])
def test_the_ip_prefix_search_finds_exactly_the_prefix(query, expected):
    for ip in ("192.0.2.1", "192.0.2.19", "192.0.3.1", "198.51.100.7", "2001:db8::5",
               "10.0.0.1"):
        _ban(ip, timedelta(hours=1))
    table = dashboard.ban_table("24h", ip_query=query, sort="ip")
    assert [row.ip for row in table.object_list] == expected
