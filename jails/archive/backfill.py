"""A fast first backfill, and repairs of the archive's schema: owner-only.

``manage.py sync_bans --backfill`` copies a long fail2ban history into an
**empty** archive faster than the plain sync (:func:`jails.archive.sync.sync`)
by changing the schema for the copy:

- the secondary indexes of ``BanEvent`` are dropped (all but ``KEPT``) and
  created again after the copy: one sort per column set instead of a
  million B-tree inserts in random key order;
- on SQLite the daily rollup's row triggers are dropped and the rollup is
  counted once at the end (two upserts per row would add half again to a
  million-row copy; PostgreSQL's statement triggers already count a whole
  batch at once and stay);
- rows are written ``BACKFILL_WRITE_ROWS`` per transaction (every commit
  writes each page it dirtied);
- SQLite's planner gets statistics at the end (``ANALYZE``).

Only the table's owner (the role that runs ``migrate``) may drop or create
indexes and triggers, so this is a command for the operator, never a node
task: a node's role syncs with the plain sync, which changes rows only.
:func:`ensure_indexes` and :func:`ensure_rollup` put back what a backfill
killed in the middle left out (``sync_bans --rebuild-rollup``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction

from jails.archive import rollup
from jails.archive import sync as archive
from jails.models import BanEvent

log = logging.getLogger(__name__)

BACKFILL_WRITE_ROWS = 50_000
# Kept while a backfill defers the others: the sync's _adopt_manual looks
# rows up by node and time in every batch, which without an index would
# scan the growing table (a first attempt without any took 115 s where
# keeping every index took 56 s). (node, banned_at) is the index SQLite's
# planner takes for that look with every index there too, and the copy
# adds to it at its end, in time order; (ip, banned_at), kept until the
# ninth session, took each row at a random place (the first sync of 1 M
# rows: 72.6 -> 50.5 s on SQLite, docs/performance.md). The unique key
# stays too: the insert's ON CONFLICT needs it.
KEPT = frozenset({"banevent_node_time"})


class BackfillRefused(Exception):
    """The backfill did not start; nothing was changed. The message says why."""


def index_names() -> set[str]:
    """Names of the indexes BanEvent's table has in the database (one query)."""
    table = BanEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                           "AND tbl_name = %s", [table])
        elif connection.vendor == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s "
                           "AND schemaname = current_schema()", [table])
        else:  # pragma: no cover (SQLite and PostgreSQL are the supported databases)
            return set(connection.introspection.get_constraints(cursor, table))
        return {row[0] for row in cursor.fetchall()}


def ensure_indexes() -> list[str]:
    """Create BanEvent's secondary indexes (``Meta.indexes``) that are
    missing (a backfill dropped them, and ended or was killed); returns
    their names. One query when none is missing."""
    present = index_names()
    missing = [index for index in BanEvent._meta.indexes if index.name not in present]
    if missing:
        with connection.schema_editor() as editor:  # one transaction
            for index in missing:
                editor.add_index(BanEvent, index)
        log.info("archive: created indexes %s", ", ".join(i.name for i in missing))
    return [index.name for index in missing]


def ensure_rollup() -> bool:
    """Re-create the daily rollup's triggers and recount it when they are
    missing (a SQLite backfill dropped them, and ended or was killed); True
    when it did. One query when they are there."""
    if rollup.triggers_present():
        return False
    rebuild_rollup()
    return True


def rebuild_rollup() -> int:
    """Install the rollup's triggers (idempotent) and recount it, in one
    transaction; returns the number of rollup rows."""
    with transaction.atomic():
        rollup.install_triggers()
        rows = rollup.rebuild()
    log.info("archive: daily rollup rebuilt (%d rows)", rows)
    return rows


def repair() -> tuple[list[str], int]:
    """``sync_bans --rebuild-rollup``: the missing indexes, then the
    triggers and a recount. Returns (indexes created, rollup rows)."""
    return ensure_indexes(), rebuild_rollup()


def _prepare() -> None:
    """Drop the secondary indexes (but ``KEPT``) and, on SQLite, the
    rollup's triggers: all or nothing (one transaction)."""
    present = index_names()
    try:
        with connection.schema_editor() as editor:  # one transaction
            for index in BanEvent._meta.indexes:
                if index.name in present and index.name not in KEPT:
                    editor.remove_index(BanEvent, index)
            if connection.vendor == "sqlite":
                rollup.drop_triggers()
    except DatabaseError as exc:
        raise BackfillRefused(
            f"cannot change the archive's indexes ({str(exc).strip()}): run --backfill as the "
            "database's owner (the role that runs migrate); a node's role syncs with plain "
            "sync_bans") from exc


@contextmanager
def _sort_threads(threads: int = 2):
    """SQLite: let the index builds sort on a helper thread (a connection
    setting, restored after; SQLite uses at most what it was built for)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA threads")
        old = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA threads = {int(threads)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA threads = {old}")


def _finish() -> None:
    # SQLite sorts each new index within the page cache and spills to temp
    # files beyond it: the sync's bigger cache for the index builds too.
    with archive._index_cache(), _sort_threads():
        ensure_indexes()
        ensure_rollup()
    if connection.vendor == "sqlite":
        # Statistics for the planner: without them SQLite picks the range
        # index over the covering one for the 365-day map (2.8 s against
        # 0.55 s at a million rows). PostgreSQL's autovacuum analyzes by
        # itself.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(BanEvent._meta.db_table)}")


def run(db_path: str | None = None, *, batch_size: int = archive.DEFAULT_BATCH_SIZE,
        fill_geo: bool = True, write_rows: int | None = None) -> archive.SyncResult:
    """Copy the whole of fail2ban's ``bans`` into the empty archive with the
    indexes (and SQLite's triggers) deferred; they come back in ``finally``,
    or, if the process is killed, with ``sync_bans --rebuild-rollup``.
    Raises :class:`BackfillRefused` (nothing changed) when the archive holds
    any row, of any node, or the schema may not be changed."""
    if BanEvent.objects.exists():
        missing = not rollup.triggers_present() or not (
            {i.name for i in BanEvent._meta.indexes} <= index_names())
        raise BackfillRefused(
            "the archive is not empty: --backfill is only for a first sync into an empty "
            "archive; plain sync_bans copies the rest"
            + ("; indexes or triggers are missing (a backfill interrupted?): run sync_bans "
               "--rebuild-rollup first" if missing else ""))
    _prepare()
    try:
        return archive.sync(db_path, batch_size=batch_size, full=True, fill_geo=fill_geo,
                            write_rows=write_rows or BACKFILL_WRITE_ROWS)
    finally:
        _finish()
