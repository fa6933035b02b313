"""The first sync's faster write paths (issue #29) archive exactly what the
old ones did, on SQLite and PostgreSQL, at a size where it matters (many
pages, every kind of row, rows already archived):

- PostgreSQL: a backlog's page COPYed straight into the archive (falling
  back to the temp table and INSERT ... ON CONFLICT when a row is there);
- the IP's sort key computed in the reader's thread;
- the backfill's write transactions sized by the pace of the one before
  (SQLite's write lock held about WRITE_HOLD_SECONDS);
- SQLite's rarer WAL checkpoints while a sync writes, restored after.

The old paths are kept here, verbatim but for names, as the reference.
Timings live in bench/archive.py, never here."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from jails.archive import backfill
from jails.archive import sync as archive
from jails.models import BanDay, BanEvent, SyncState, ip_sort_key
from jails.tests.test_sync_fast import FIELDS, _archived, _expected


def _old_insert(values: list[list], now) -> int:
    """The insert before issue #29's last round (commit 46c8ebd)."""
    if not values:
        return 0
    qn = connection.ops.quote_name
    table = qn(BanEvent._meta.db_table)
    columns = ", ".join(qn(c) for c in archive._INSERT_COLUMNS)
    conflict = ", ".join(qn(c) for c in archive._CONFLICT)
    node = settings.BANGUI_NODE
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS bangui_ban_import ("
                "ip varchar(45), jail varchar(64), banned_at timestamptz, bantime bigint, "
                "ban_count integer, failures integer, matches text, origin varchar(16), "
                "country_code varchar(2), created_at timestamptz, ip_key varchar(32), "
                "node varchar(63)) ON COMMIT DELETE ROWS")
            with cursor.cursor.copy(f"COPY bangui_ban_import ({columns}) FROM STDIN") as copy:
                for v in values:
                    copy.write_row((*v[:archive._COUNTRY + 1], now, ip_sort_key(v[0]), node))
            cursor.execute(f"INSERT INTO {table} ({columns}) "  # noqa: S608
                           f"SELECT {columns} FROM bangui_ban_import "
                           f"ON CONFLICT ({conflict}) DO NOTHING")
            inserted = max(cursor.rowcount, 0)
            cursor.execute("TRUNCATE bangui_ban_import")
        return inserted
    created = connection.ops.adapt_datetimefield_value(now)
    one_row = "(" + ", ".join(["%s"] * len(archive._INSERT_COLUMNS)) + ")"
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            params: list = []
            for v in chunk:
                params += [v[0], v[1], connection.ops.adapt_datetimefield_value(v[2]), v[3],
                           v[4], v[5], v[6], v[7], v[8], created, ip_sort_key(v[0]), node]
            cursor.execute(f"INSERT INTO {table} ({columns}) "  # noqa: S608
                           f"VALUES {', '.join([one_row] * len(chunk))} "
                           f"ON CONFLICT ({conflict}) DO NOTHING", params)
            inserted += max(cursor.rowcount, 0)
    return inserted


def _rollup_is_the_archive() -> None:
    """BanDay (kept by the triggers) equals a count of the archive."""
    counted: Counter = Counter()
    for jail, country, origin, banned_at in BanEvent.objects.values_list(
            "jail", "country_code", "origin", "banned_at"):
        day = banned_at.astimezone(UTC).date()
        counted["jail", day, jail, origin] += 1
        counted["country", day, country or "", origin] += 1
    rolled = Counter({(k, d, key, o): n for k, d, key, o, n in BanDay.objects.values_list(
        "kind", "day", "key", "origin", "bans") if n})
    assert rolled == counted


def _reset():
    BanEvent.objects.all().delete()
    SyncState.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_the_new_insert_archives_what_the_old_one_did(history, monkeypatch):
    """Pages of 2,000 (PostgreSQL's direct COPY), geo on, then a re-read."""
    path, rows = history
    with monkeypatch.context() as patch:
        patch.setattr(archive, "_insert", lambda values, now, **kw: _old_insert(values, now))
        old = archive.sync(str(path), batch_size=2_000)
    by_old = sorted(_archived())
    _reset()
    directs = []
    real_insert = archive._insert
    monkeypatch.setattr(archive, "_insert",
                        lambda values, now, **kw: (directs.append(kw.get("direct")),
                                                   real_insert(values, now, **kw))[1])
    new = archive.sync(str(path), batch_size=2_000)
    assert sorted(_archived()) == by_old
    assert (new.read, new.inserted, new.invalid) == (old.read, old.inserted, old.invalid)
    countries = archive.lookup_countries({r[1] for r in by_old})
    assert countries and set(by_old) == _expected(rows, countries)
    assert len(by_old) == len(set(by_old)) == new.inserted
    # Every page a backlog's: COPY first on PostgreSQL; but the last, whose
    # repeated manual bans _adopt_manual found archived, goes ON CONFLICT.
    assert len(directs) == 7 and all(directs[:-1]) and directs[-1] is False
    _rollup_is_the_archive()
    # Nothing twice: a --full re-read goes the ON CONFLICT way.
    directs.clear()
    assert archive.sync(str(path), batch_size=2_000, full=True).inserted == 0
    assert not any(directs)
    assert sorted(_archived()) == by_old


@pytest.mark.django_db(transaction=True)
def test_a_direct_copy_that_meets_archived_rows_adds_no_twin(history, monkeypatch):
    """A cursor lost (or a second sync that got there first): the COPY of
    a page whose rows are partly archived fails, is undone, and the page is
    inserted the ON CONFLICT way; the archive ends exactly right."""
    path, _rows = history
    archive.sync(str(path), batch_size=2_000, fill_geo=False)
    everything = sorted(_archived())
    ids = list(BanEvent.objects.order_by("id").values_list("id", flat=True))
    gone = ids[::3]  # a third of the rows, spread over every page
    BanEvent.objects.filter(id__in=gone).delete()
    SyncState.objects.all().delete()  # read forward from the start again
    # Every page tries its COPY (the history's manual bans would otherwise
    # tell _adopt_manual the page meets archived rows).
    monkeypatch.setattr(archive, "_adopt_manual", lambda values: False)
    connection.close()  # a new session: no temp table yet
    result = archive.sync(str(path), batch_size=2_000, fill_geo=False)
    assert result.inserted == len(gone)
    assert sorted(_archived()) == everything
    _rollup_is_the_archive()
    if connection.vendor == "postgresql":  # the COPY failed and the page went ON CONFLICT
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('pg_temp.bangui_ban_import')")
            assert cursor.fetchone()[0] is not None


@pytest.mark.django_db(transaction=True)
def test_manual_bans_archived_first_are_adopted_not_copied_twice(history):
    """record_manual's rows (a second off) in a backlog's page: the page
    meets them, so it skips the COPY; one row per ban."""
    path, rows = history
    manual = [(i, r) for i, r in enumerate(rows[:3_000]) if r[0] == "nginx" and r[1]][:50]
    for _i, (jail, ip, t, bantime, _count, _data) in manual:
        BanEvent.objects.create(node=settings.BANGUI_NODE, jail=jail, ip=ip,
                                banned_at=archive.datetime.fromtimestamp(t + 1, UTC),
                                bantime=bantime, failures=0, origin="manual", actor="admin")
    archive.sync(str(path), batch_size=2_000, fill_geo=False)
    made = {("nginx", ip, t) for _i, (_j, ip, t, *_rest) in manual}
    expected = {(*r[:11], "admin" if (r[3], r[1], r[4].timestamp()) in made else None, *r[12:])
                for r in _expected(rows, {})}
    assert set(_archived()) == expected
    assert BanEvent.objects.count() == len(expected)
    _rollup_is_the_archive()


@pytest.mark.django_db(transaction=True)
def test_backfill_transactions_follow_the_pace(history, monkeypatch):
    """The backfill's write size shrinks to what fits the hold (here: one
    page, since any write is 'too slow' for a hold of a microsecond) and
    archives what the plain sync does."""
    path, rows = history
    monkeypatch.setattr(backfill, "BACKFILL_WRITE_ROWS", 6_000)
    monkeypatch.setattr(archive, "WRITE_HOLD_SECONDS", 1e-6)
    written, real_store = [], archive._store_batch
    monkeypatch.setattr(archive, "_store_batch",
                        lambda state, values, *a: (written.append(len(values)),
                                                   real_store(state, values, *a))[1])
    backfill.run(str(path), batch_size=1_000, fill_geo=False)
    by_backfill = sorted(_archived())
    # Four pages first, then a page at a time.
    assert 3_900 < written[0] <= 4_000 and max(written[1:]) <= 1_000
    assert set(by_backfill) == _expected(rows, {}) and len(by_backfill) == len(set(by_backfill))
    _rollup_is_the_archive()
    _reset()
    monkeypatch.setattr(archive, "WRITE_HOLD_SECONDS", 1e6)  # never too slow: the most
    written.clear()
    backfill.run(str(path), batch_size=1_000, fill_geo=False)
    assert sorted(_archived()) == by_backfill
    # Four pages, then the most (unusable rows are not written), the rest.
    assert written[0] > 3_900 and written[1] > 5_900 and len(written) == 3


@pytest.mark.django_db(transaction=True)
def test_the_sync_restores_sqlite_settings(history):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's connection settings")

    def settings_now():
        with connection.cursor() as cursor:
            return [cursor.execute(f"PRAGMA {p}").fetchone()[0]
                    for p in ("cache_size", "wal_autocheckpoint")]

    before = settings_now()
    archive.sync(str(history[0]), batch_size=2_000, fill_geo=False)
    assert settings_now() == before


@pytest.mark.django_db
def test_sqlite_insert_errors_are_djangos():
    """The insert raises Django's errors (the worker tells a busy
    database, django.db.OperationalError, from a bug); a raw executemany,
    tried and dropped (slower at 1 M rows), would not have."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's insert path")
    bad = ["1.2.3.4", None, archive.datetime.now(UTC), 600, 1, 0, "", "manual", None, "k"]
    with pytest.raises(IntegrityError), transaction.atomic():  # jail NOT NULL
        archive._insert([bad], archive.timezone.now())


def test_fields_cover_what_the_sync_writes():
    """(FIELDS is what these tests compare: every column the sync fills but
    created_at, which is the time of the run.)"""
    assert set(archive._INSERT_COLUMNS) - set(FIELDS) == {"created_at"}
