"""What makes the archive fast at a million rows, checked for correctness
(timings live in bench/archive.py and bench/map.py, never in tests): the
owner's ``sync_bans --backfill`` with deferred indexes (and a plain sync,
a node's, that never touches the schema however long the history), the
read-through cache of long-window aggregates, and the SQLite prefix range
of the IP search."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jails.archive import backfill, map_data, rollup
from jails.archive import queries as dashboard
from jails.archive import sync as archive
from jails.models import BanDay, BanEvent
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


def _schema() -> tuple[set[str], set[str]]:
    """The archive table's index and trigger names, as the database has them."""
    table = BanEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                           "AND tbl_name = %s", [table])
        else:
            cursor.execute("SELECT t.tgname FROM pg_trigger t JOIN pg_class c "
                           "ON c.oid = t.tgrelid WHERE c.relname = %s AND NOT t.tgisinternal",
                           [table])
        triggers = {row[0] for row in cursor.fetchall()}
    return backfill.index_names(), triggers


def _rolled() -> dict[str, int]:
    return dict(BanDay.objects.order_by().values("kind").annotate(n=Sum("bans"))
                .values_list("kind", "n"))


def _backfill(source, *args: str) -> str:
    out = io.StringIO()
    call_command("sync_bans", "--backfill", "--db", str(source), "--no-geo", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_plain_first_sync_of_a_long_history_changes_no_schema(source, monkeypatch):
    """What a node's role may do: rows only, in transactions of one page,
    however long the history it finds (50,000 rows: what the sync once
    took for a backfill and dropped the indexes for)."""
    fail2ban_db.add_bans(source, _rows(50_000))
    before = _schema()
    assert _secondary() <= before[0] and len(before[1]) == 3
    written, real_store = [], archive._store_batch
    monkeypatch.setattr(archive, "_store_batch",
                        lambda state, values, *a: (written.append(len(values)),
                                                   real_store(state, values, *a))[1])
    with CaptureQueriesContext(connection) as queries:
        result = archive.sync(str(source), fill_geo=False)

    assert result.inserted == 50_000 and BanEvent.objects.count() == 50_000
    assert _schema() == before
    ddl = [q["sql"][:80] for q in queries.captured_queries
           if q["sql"].lstrip().upper().startswith(("CREATE", "DROP", "ALTER", "ANALYZE"))
           and not q["sql"].startswith("CREATE TEMP TABLE IF NOT EXISTS bangui_ban_import")]
    assert ddl == []  # (PostgreSQL's COPY goes through a temp table of the session)
    assert max(written) == archive.DEFAULT_BATCH_SIZE and len(written) == 10
    assert _rolled() == {"jail": 50_000, "country": 50_000}  # counted by the triggers


@pytest.mark.django_db(transaction=True)
def test_during_the_copy_the_look_for_rows_archived_at_ban_time_searches_a_kept_index():
    """_adopt_manual runs for every page that holds a ban made by hand or a
    blocklist; with the indexes dropped it must still search one (a scan
    of the growing table made the first backfill slower than none)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL's depends on the table's statistics")
    backfill._prepare()
    try:
        manual = archive._event_values(
            (1, "sshd", "192.0.2.9", T0, 600, 1, '{"matches": [], "failures": 0}'))
        with CaptureQueriesContext(connection) as ctx:
            archive._adopt_manual([manual])
        [look] = ctx.captured_queries
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + look["sql"])
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
    finally:
        backfill.repair()
    table = BanEvent._meta.db_table
    assert f"SEARCH {table} USING INDEX banevent_node_time" in plan, plan
    assert f"SCAN {table}" not in plan, plan
    assert "banevent_node_time" in backfill.KEPT


@pytest.mark.django_db(transaction=True)
def test_the_backfill_command_defers_the_indexes_and_creates_them_after(source, monkeypatch):
    fail2ban_db.add_bans(source, _rows(30))
    monkeypatch.setattr(backfill, "BACKFILL_WRITE_ROWS", 14)
    before = _schema()
    prepared, written = [], []
    real_prepare, real_store = backfill._prepare, archive._store_batch

    def prepare():
        real_prepare()
        prepared.append(_schema())

    monkeypatch.setattr(backfill, "_prepare", prepare)
    monkeypatch.setattr(archive, "_store_batch",
                        lambda state, values, *a: (written.append(len(values)),
                                                   real_store(state, values, *a))[1])

    assert "inserted 30, skipped 0" in _backfill(source, "--batch-size", "7")

    indexes, triggers = prepared[0]
    assert indexes & _secondary() == backfill.KEPT  # the rest were dropped for the copy
    assert triggers == (set() if connection.vendor == "sqlite" else before[1])
    assert written == [14, 14, 2]  # pages of 7, two per write transaction
    assert BanEvent.objects.count() == 30
    assert _schema() == before  # all back
    assert _rolled() == {"jail": 30, "country": 30}
    if connection.vendor == "sqlite":  # analyzed for the planner after the backfill
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = %s",
                           [BanEvent._meta.db_table])
            assert cursor.fetchone()[0] > 0
    # The next (incremental) run is a plain sync: one page per transaction.
    fail2ban_db.add_bans(source, _rows(20, start=30))
    written.clear()
    assert archive.sync(str(source), batch_size=7, fill_geo=False).inserted == 20
    assert written == [7, 7, 6] and len(prepared) == 1
    assert _schema() == before
    assert _rolled() == {"jail": 50, "country": 50}


@pytest.mark.django_db(transaction=True)
def test_the_backfill_refuses_an_archive_with_rows_and_changes_nothing(source):
    fail2ban_db.add_bans(source, _rows(30))
    BanEvent.objects.create(node="other", ip="198.51.100.1", jail="sshd", bantime=600,
                            banned_at=timezone.now())  # another node's, in a shared archive
    before = _schema()
    with pytest.raises(CommandError, match="archive is not empty") as refused:
        _backfill(source)
    assert "--rebuild-rollup" not in str(refused.value)
    assert _schema() == before
    assert BanEvent.objects.count() == 1 and not archive.SyncState.objects.exists()
    with pytest.raises(CommandError, match="do not go together"):
        call_command("sync_bans", "--backfill", "--rebuild-rollup")


@pytest.mark.django_db(transaction=True)
def test_a_crashed_backfill_gets_its_indexes_back_and_the_sync_resumes(source, monkeypatch):
    fail2ban_db.add_bans(source, _rows(30))
    # A backfill writes several read pages per transaction: pages of 5, 10 rows.
    monkeypatch.setattr(backfill, "BACKFILL_WRITE_ROWS", 10)
    before = _schema()
    real_store, calls = archive._store_batch, []

    def failing_store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(archive, "_store_batch", failing_store)
    with pytest.raises(RuntimeError):
        _backfill(source, "--batch-size", "5")
    assert BanEvent.objects.count() == 10  # the first write, committed with its cursor
    assert archive.SyncState.objects.get().last_rowid == 10
    assert _schema() == before  # restored in finally, the rollup recounted
    assert _rolled() == {"jail": 10, "country": 10}

    # A process killed mid-backfill leaves no finally behind: an index
    # (and, on SQLite, the triggers) stay out. The plain sync resumes from
    # the cursor but repairs nothing (a node's role may not); a second
    # backfill refuses; the owner's --rebuild-rollup puts them back.
    with connection.schema_editor() as editor:
        editor.remove_index(BanEvent, BanEvent._meta.indexes[0])
    if connection.vendor == "sqlite":
        rollup.drop_triggers()
    broken = _schema()
    monkeypatch.setattr(archive, "_store_batch", real_store)
    result = archive.sync(str(source), batch_size=10, fill_geo=False)
    assert result.inserted == 20
    assert BanEvent.objects.count() == 30
    assert len(set(BanEvent.objects.values_list("ip", "banned_at"))) == 30
    assert _schema() == broken
    with pytest.raises(CommandError, match="run sync_bans --rebuild-rollup first"):
        _backfill(source)
    out = io.StringIO()
    call_command("sync_bans", "--rebuild-rollup", stdout=out)
    assert f"created indexes: {BanEvent._meta.indexes[0].name}" in out.getvalue()
    assert _schema() == before
    assert _rolled() == {"jail": 30, "country": 30}


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
