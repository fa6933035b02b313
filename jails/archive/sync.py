"""The ban archive: copy fail2ban's ban history into :class:`BanEvent`.

fail2ban's sqlite ``bans`` table gets one row per ban (``INSERT`` in
``Fail2BanDb.addBan``), loses rows older than ``dbpurgeage``, and loses every
row of a jail+IP when that IP is unbanned by hand (``delBan``). :func:`sync`
copies new rows before that happens:

- the file is opened read-only (``file:...?mode=ro``) and read in short
  keyset pages (``rowid > ? ORDER BY rowid LIMIT n``), so fail2ban is never
  blocked for long by a reader holding its lock;
- each page is inserted with ``ON CONFLICT (node, jail, ip, banned_at) DO
  NOTHING`` (``node``: this process's ``BANGUI_NODE``, whose fail2ban it is)
  and the cursor (:class:`SyncState`) moves in the same transaction, so a
  crash between pages neither loses nor duplicates rows;
- ``rowid`` is insertion order, so bans whose ``timeofban`` (the time of the
  last failure) is older than rows already copied are not skipped, which a
  ``timeofban`` cursor would do;
- SQLite hands out ``max(rowid) + 1``, so after fail2ban deletes the newest
  rows their rowids come back. The cursor keeps a fingerprint of the row it
  stopped at; when that row is gone or different, the run re-reads every row
  from a day before its last success (the unique key absorbs the overlap);
- it writes rows only, never the schema: every node runs it, under a
  database role that may not create or drop indexes or triggers. The
  owner's faster first backfill (indexes deferred) is
  :mod:`jails.archive.backfill`, run by ``sync_bans --backfill``.

See docs/archive.md for the decisions and their limits.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from jails.archive import rollup
from jails.constants import (
    BLOCKLIST_JAIL,
    MANUAL_MATCH_SLACK,
    MATCHES_MAX_BYTES,
    MATCHES_MAX_LINE_BYTES,
    MATCHES_MAX_LINES,
    SHARED_JAIL,
    SYNC_REWIND_OVERLAP,
    Origin,
)
from jails.fail2ban import Fail2banClient, Fail2banError, database, validation
from jails.live import link
from jails.live import state as live
from jails.models import BanEvent, SyncState, fast_ip_key

log = logging.getLogger(__name__)

# Rows read per page of fail2ban's db, and written per transaction: a node's
# sync holds SQLite's write lock (or PostgreSQL's row locks) for one page at
# a time, whatever the size of the history it copies.
DEFAULT_BATCH_SIZE = 5000
_ROWS_PER_STATEMENT = 500
# A backfill's bigger transactions (write_rows) are sized by the pace of
# the one before to hold SQLite's write lock about this long.
WRITE_HOLD_SECONDS = 0.5
# SQLite: WAL pages between checkpoints while a sync writes (default 1,000;
# 20,000 pages of 4 KiB: an 80 MB WAL at most). See _index_cache.
WAL_CHECKPOINT_PAGES = 20_000
UNBAN_CHUNK = 500  # IPs per archive query when noting unbans
# How long a sync waits for another sync of the same file on this host.
SYNC_WAIT_SECONDS = 60
# Column order of the raw INSERT; matches _event_values().
_INSERT_COLUMNS = (
    "ip", "jail", "banned_at", "bantime", "ban_count", "failures", "matches", "origin",
    "country_code", "created_at", "ip_key", "node",
)
_CONFLICT = ("node", "jail", "ip", "banned_at")
_IP, _JAIL, _BANNED_AT, _BANTIME, _BAN_COUNT, _FAILURES, _MATCHES, _ORIGIN, _COUNTRY, _IP_KEY = (
    range(10))


class ArchiveError(Exception):
    """The archive could not sync; the message says why and what to check."""


@dataclass(frozen=True)
class SyncResult:
    db_path: str
    read: int  # rows read from fail2ban's db in this run
    inserted: int  # new archive rows
    duration: float  # seconds
    rewound: bool = False  # the cursor row had changed: recent rows were re-read
    invalid: int = 0  # rows that cannot be archived (ip/jail too long or empty)

    @property
    def skipped(self) -> int:
        """Rows read that were already in the archive (or invalid)."""
        return self.read - self.inserted

    def __str__(self) -> str:
        text = (f"inserted {self.inserted}, skipped {self.skipped} "
                f"(read {self.read}) in {self.duration:.2f} s")
        if self.rewound:
            text += "; re-read recent rows after fail2ban deleted rows"
        if self.invalid:
            text += f"; {self.invalid} unusable rows ignored"
        return text


# --- reading fail2ban's database ----------------------------------------------------
@dataclass(frozen=True)
class Sent:
    """Addresses a blocklist import banned into ``jail`` from ``since`` on:
    the sync gives their rows the origin "blocklist" as it inserts them,
    where it would say "manual" (fail2ban stores a ``banip`` without
    failures either way). Marking them at insert time spares the import an
    UPDATE of every row it archived, which fired the rollup's triggers once
    more per row (3 s of a 100,000-address import, 2026-12-07)."""

    jail: str
    ips: frozenset[str]
    since: datetime

    def mark(self, values: list[list]) -> None:
        for v in values:
            if (v[_ORIGIN] == Origin.MANUAL and v[_JAIL] == self.jail
                    and v[_BANNED_AT] >= self.since and v[_IP] in self.ips):
                v[_ORIGIN] = Origin.BLOCKLIST


def fail2ban_db_path(client: Fail2banClient | None = None) -> str:
    """The database file the running fail2ban writes (``get dbfile``)."""
    path = (client or link.client()).dbfile()
    if not path:
        raise ArchiveError(
            "fail2ban runs without a ban database (dbfile is None or :memory:); set dbfile "
            "in fail2ban.local so BanGUI can archive bans"
        )
    return path


def open_readonly(path: str | Path) -> database.Connection:
    """fail2ban's sqlite file, read-only (:mod:`jails.fail2ban.database`)."""
    try:
        return database.connect(path, timeout=10)
    except database.Unreadable as exc:
        raise ArchiveError(f"{exc}. BanGUI's worker needs read access to the file and its "
                           "directory") from None


def _fingerprint(row: Sequence) -> str:
    """Identity of a bans row: (jail, ip, timeofban)."""
    return f"{row[0]}\x1f{row[1]}\x1f{row[2]}"[:200]


def _row_fingerprint(con: database.Connection, rowid: int) -> str | None:
    row = database.bans_row(con, rowid)
    return _fingerprint(row[1:4]) if row else None


def _parse_data(raw) -> dict:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def bound_matches(matches) -> str:
    """fail2ban's matched lines (strings, or lists of line parts) as text:
    the last MATCHES_MAX_LINES lines, each and all of them size-capped."""
    if not matches or not isinstance(matches, list):
        return ""
    lines: list[str] = []
    for item in matches[-MATCHES_MAX_LINES:]:
        line = item if isinstance(item, str) else (
            "".join(str(p) for p in item) if isinstance(item, list | tuple) else str(item))
        if "\n" in line or "\r" in line:
            line = line.replace("\r", " ").replace("\n", " ")
        line = line.strip()
        # A UTF-8 character is at most 4 bytes: only long lines need encoding.
        if len(line) * 4 > MATCHES_MAX_LINE_BYTES and len(encoded := line.encode()) > (
                MATCHES_MAX_LINE_BYTES):
            line = encoded[:MATCHES_MAX_LINE_BYTES].decode(errors="ignore") + "…"
        lines.append(line)
    text = "\n".join(lines)
    if len(text) * 4 > MATCHES_MAX_BYTES:
        while lines and len("\n".join(lines).encode()) > MATCHES_MAX_BYTES:
            lines.pop(0)  # keep the newest lines, as fail2ban does
        text = "\n".join(lines)
    return text


def _origin(jail: str, failures: int, matches: str) -> str:
    if jail == BLOCKLIST_JAIL:
        return Origin.BLOCKLIST
    if jail == SHARED_JAIL:
        return Origin.SHARED
    # ``banip`` (BanGUI, fail2ban-client) stores {"matches": [], "failures": 0}.
    if failures == 0 and not matches:
        return Origin.MANUAL
    return Origin.DETECTED


def _event_values(row: Sequence) -> list | None:
    """One bans row as the archive's column values (country filled later),
    with the IP's sort key last (computed here, in the reader's thread)."""
    _rowid, jail, ip, timeofban, bantime, bancount, data = row
    if not ip or not jail or len(str(ip)) > 45 or len(str(jail)) > 64:
        return None
    info = _parse_data(data)
    try:
        failures = max(0, int(info.get("failures") or 0))
    except (TypeError, ValueError):
        failures = 0
    matches = bound_matches(info.get("matches"))
    return [
        str(ip), str(jail), datetime.fromtimestamp(int(timeofban), UTC), int(bantime),
        max(1, int(bancount or 1)), failures, matches, _origin(str(jail), failures, matches),
        None, fast_ip_key(str(ip)),
    ]


# --- geo ------------------------------------------------------------------------------
def _geo_keys(ips: Iterable[str]) -> dict[str, str]:
    """Each address asked for, with the address geo is asked about: itself,
    or a banned network's ("203.0.113.0/24") network address (geo knows
    addresses only)."""
    return {ip: ip.split("/", 1)[0] for ip in ips}


def _geo_cache():
    """The process's GeoCache, or None when the geo app is not there."""
    try:
        from geo.service import get_cache
    except ModuleNotFoundError as exc:
        if exc.name in ("geo", "geo.service"):
            return None
        raise
    return get_cache()


def prepare_countries(ips: Iterable[str]):
    """What :func:`lookup_countries` can do without the database: geo's
    memory and MMDB (``GeoCache.prepare``). The sync's reader thread runs
    it for each page it reads ahead, beside the writer's inserts. None
    when geo is not there or fails (the writer then asks plainly)."""
    try:
        cache = _geo_cache()
        if cache is None:
            return None
        wanted = _geo_keys(ips)
        return wanted, cache.prepare(list(dict.fromkeys(wanted.values())))
    except Exception:
        # The writer's plain lookup meets the same fault and logs it.
        log.debug("geo: preparing a lookup failed; the writer asks plainly", exc_info=True)
        return None


def lookup_countries(ips: Iterable[str], prepared=None) -> dict[str, str]:
    """Country codes from geo's cache (the worker may resolve; page views don't
    call this). Returns {} when the geo app is not there or fails. A banned
    network gets its network address's country. ``prepared``:
    :func:`prepare_countries`'s answer for the same ``ips``."""
    wanted, ready = prepared if prepared is not None else (_geo_keys(ips), None)
    if not wanted:
        return {}
    keys = list(dict.fromkeys(wanted.values()))
    try:
        cache = _geo_cache()
        if cache is None:
            return {}
        results = cache.complete(ready) if ready is not None else cache.lookup_batch(keys)
    except Exception:
        # Geo is a nice-to-have here: never let it stop the archive.
        log.exception("geo lookup of %d IPs failed; their country stays empty", len(keys))
        return {}
    codes = {}
    for ip, result in (results or {}).items():
        code = getattr(result, "country_code", None)
        if code:
            codes[ip] = str(code).upper()[:2]
    return {ip: codes[key] for ip, key in wanted.items() if key in codes}


# The scheduled fill looks this far back: a geo outage longer than a week
# leaves its rows for ``manage.py`` (no window) rather than making every
# hourly run read them.
FILL_DAYS = 7
FILL_ROWS = 5000


def fill_missing_countries(limit: int = FILL_ROWS, days: int | None = FILL_DAYS) -> int:
    """Give a country to archive rows archived without one (geo was down or
    did not know the address then); returns how many rows got one.

    Hourly on the fleet's coordinator (``archive-countries`` in
    bangui/schedules.py) over the last ``days`` (None: the whole archive).
    It reads at most ``limit`` such rows, newest first, through the
    ``country_code, banned_at`` index, so a run costs the same with a
    million archived rows. Addresses geo still cannot place stay NULL
    ("unknown" on the pages) and are asked again next hour: geo's negative
    cache makes that cheap. The rollup follows through its triggers."""
    missing = BanEvent.objects.filter(country_code__isnull=True)
    if days is not None:
        missing = missing.filter(banned_at__gte=timezone.now() - timedelta(days=days))
    ips = set(missing.order_by("-banned_at").values_list("ip", flat=True)[:limit])
    by_country: dict[str, list[str]] = {}
    for ip, code in lookup_countries(ips).items():
        by_country.setdefault(code, []).append(ip)
    updated = 0
    for code, group in by_country.items():
        updated += missing.filter(ip__in=group).update(country_code=code)
    if updated:
        log.info("archive: %d rows archived without a country got one", updated)
    return updated


# --- writing the archive ------------------------------------------------------------
def _naive_utc_text(value: datetime) -> str:
    return str(value.replace(tzinfo=None))


def _insert(values: list[list], now: datetime, *, direct: bool = False) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new.
    Raw SQL rather than bulk_create(ignore_conflicts=True) because it reports
    that count and is several times faster on a million-row backfill.
    ``direct``: the rows are most likely all new (PostgreSQL then tries a
    plain COPY first)."""
    if not values:
        return 0
    if connection.vendor == "postgresql":
        return _insert_postgresql(values, now, direct=direct)
    qn = connection.ops.quote_name
    # banned_at values are aware UTC datetimes (_event_values); with the
    # database in UTC, their text is what Django's adapter returns, without
    # its per-row checks (seconds per million rows).
    adapt = (_naive_utc_text if settings.USE_TZ and connection.timezone_name == "UTC"
             else connection.ops.adapt_datetimefield_value)
    table = qn(BanEvent._meta.db_table)
    columns = ", ".join(qn(c) for c in _INSERT_COLUMNS)
    conflict = ", ".join(qn(c) for c in _CONFLICT)
    created = connection.ops.adapt_datetimefield_value(now)
    node = settings.BANGUI_NODE
    # Multi-row VALUES statements, not one single-row statement run by
    # sqlite3's executemany: each statement is its own statement
    # transaction (ON CONFLICT, the rollup's triggers), and a million of
    # them cost 13 s more than 2,000 of 500 rows (raw SQLite, 1 M rows:
    # 67.8 s against 54.0 s, 2026-12-07).
    one_row = "(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(values), _ROWS_PER_STATEMENT):
            chunk = values[start:start + _ROWS_PER_STATEMENT]
            params: list = []
            for v in chunk:
                params += [v[_IP], v[_JAIL], adapt(v[_BANNED_AT]), v[_BANTIME], v[_BAN_COUNT],
                           v[_FAILURES], v[_MATCHES], v[_ORIGIN], v[_COUNTRY], created,
                           v[_IP_KEY], node]
            # Only quoted model identifiers are formatted in; values are bound.
            sql = (f"INSERT INTO {table} ({columns}) "  # noqa: S608
                   f"VALUES {', '.join([one_row] * len(chunk))} "
                   f"ON CONFLICT ({conflict}) DO NOTHING")
            cursor.execute(sql, params)
            inserted += max(cursor.rowcount, 0)
    return inserted


def _insert_postgresql(values: list[list], now: datetime, *, direct: bool = False) -> int:
    """PostgreSQL: COPY the page into a temp table, then one INSERT ... SELECT
    ... ON CONFLICT DO NOTHING (psycopg re-parses every large multi-row
    VALUES statement client-side, which costs more than the insert). With
    ``direct``, first a COPY into the archive itself (a fifth less per row
    than the temp table and the INSERT: measured on 200,000 rows), which
    falls back to that when any row is already archived."""
    qn = connection.ops.quote_name
    table = qn(BanEvent._meta.db_table)
    columns = ", ".join(qn(c) for c in _INSERT_COLUMNS)
    conflict = ", ".join(qn(c) for c in _CONFLICT)
    node = settings.BANGUI_NODE
    if direct:
        # New rows, a backlog's page: COPY them straight into the archive, in
        # a savepoint. COPY knows no ON CONFLICT: a row already there (a
        # concurrent sync, a ban BanGUI archived at ban time) fails the
        # whole COPY, which is then undone and the page goes the way below.
        try:
            with transaction.atomic(), connection.wrap_database_errors, \
                    connection.cursor() as cursor, \
                    cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for v in values:
                    copy.write_row((*v[:_COUNTRY + 1], now, v[_IP_KEY], node))
            return len(values)
        except IntegrityError:
            pass
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bangui_ban_import ("
            "ip varchar(45), jail varchar(64), banned_at timestamptz, bantime bigint, "
            "ban_count integer, failures integer, matches text, origin varchar(16), "
            "country_code varchar(2), created_at timestamptz, ip_key varchar(32), "
            "node varchar(63)) "
            "ON COMMIT DELETE ROWS")
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(f"COPY bangui_ban_import ({columns}) FROM STDIN") as copy:
            for v in values:
                copy.write_row((*v[:_COUNTRY + 1], now, v[_IP_KEY], node))
        cursor.execute(f"INSERT INTO {table} ({columns}) "  # noqa: S608 (identifiers only)
                       f"SELECT {columns} FROM bangui_ban_import "
                       f"ON CONFLICT ({conflict}) DO NOTHING")
        inserted = max(cursor.rowcount, 0)
        cursor.execute("TRUNCATE bangui_ban_import")
    return inserted


def _adopt_manual(values: list[list]) -> bool:
    """Give rows that :func:`record_manual` wrote at ban time the exact key
    fail2ban's db has (it may differ by a second), so the insert that follows
    conflicts with them instead of adding a twin. True when it found such
    rows (the insert will meet them)."""
    manual = [v for v in values if v[_ORIGIN] != Origin.DETECTED]
    if not manual:
        return False
    times = [v[_BANNED_AT] for v in manual]
    candidates = list(BanEvent.objects.filter(
        node=settings.BANGUI_NODE, ip__any_of={v[_IP] for v in manual},
        banned_at__gte=min(times) - MANUAL_MATCH_SLACK,
        banned_at__lte=max(times) + MANUAL_MATCH_SLACK,
        origin__in=[Origin.MANUAL, Origin.BLOCKLIST, Origin.SHARED],
    ).order_by())
    if not candidates:
        return False
    exact = {(c.jail, c.ip, c.banned_at) for c in candidates}
    for v in manual:
        if (v[_JAIL], v[_IP], v[_BANNED_AT]) in exact:
            continue
        for c in candidates:
            if (c.jail == v[_JAIL] and c.ip == v[_IP] and c.banned_at != v[_BANNED_AT]
                    and abs(c.banned_at - v[_BANNED_AT]) <= MANUAL_MATCH_SLACK):
                BanEvent.objects.filter(pk=c.pk).update(
                    banned_at=v[_BANNED_AT], bantime=v[_BANTIME], ban_count=v[_BAN_COUNT],
                    country_code=c.country_code or v[_COUNTRY])
                exact.add((c.jail, c.ip, v[_BANNED_AT]))
                c.banned_at = v[_BANNED_AT]
                break
    return True


# A page this long of rows read forward (not a rewind, not --full) is a
# backlog, most likely all new: PostgreSQL tries a plain COPY first. Short
# pages (the usual run) go straight to INSERT ... ON CONFLICT: a failed
# COPY would be a wasted one and an error line in the server's log.
DIRECT_COPY_ROWS = 1000


def _store_batch(state: SyncState, values: list[list], cursor_row: Sequence,
                 max_timeofban: int, new: bool = False) -> int:
    """Insert one page and move the cursor, in one transaction. ``new``:
    the rows were read forward from the cursor (likely not archived yet)."""
    now = timezone.now()
    with transaction.atomic():
        met = _adopt_manual(values)
        inserted = _insert(values, now,
                           direct=new and not met and len(values) >= DIRECT_COPY_ROWS)
        state.last_rowid = cursor_row[0]
        state.last_fingerprint = _fingerprint(cursor_row[1:4])
        state.max_timeofban = max(state.max_timeofban, max_timeofban)
        SyncState.objects.filter(pk=state.pk).update(
            last_rowid=state.last_rowid, last_fingerprint=state.last_fingerprint,
            max_timeofban=state.max_timeofban)
    return inserted


@contextmanager
def _index_cache(kib: int = 128 * 1024):
    """SQLite: a bigger page cache while syncing (a connection setting, not
    the schema). Rows go into the archive's indexes in random key order;
    with SQLite's default 2 MB cache most of those inserts go to disk on a
    long first sync. Restored afterwards.

    Also a rarer WAL checkpoint (``wal_autocheckpoint``, pages): each
    commit of a page of random-key index inserts writes thousands of
    pages to the WAL, and at SQLite's default of 1,000 nearly every
    commit was followed by a checkpoint (with its fsync) in the middle of
    the copy. The sync checkpoints once at the end (passive: it waits for
    no one), so the web's next commit does not meet a long WAL."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        old = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA wal_autocheckpoint")
        old_checkpoint = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-int(kib)}")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {old}")
            cursor.execute(f"PRAGMA wal_autocheckpoint = {old_checkpoint}")
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()


class Busy(ArchiveError):
    """Another sync of the same file runs on this host (``sync(wait=0)``)."""


@contextmanager
def _one_sync(path: str, wait: float):
    """One sync of a fail2ban file at a time on this host. The web's
    in-process commands (bulk lifts sync first), the command lane (tick,
    schedule) and an import on the main lane may each start one; two at
    once read the same pages and take turns at the archive's write lock,
    each making the other (and, on SQLite, every other writer) wait longer.
    The later one waits for the first (then reads only what is new), up to
    ``wait`` seconds, then runs anyway: the unique key makes a twin run
    harmless, only slower. A lock file in the data dir (flock: released
    when its holder dies); none when the dir is not writable."""
    name = f"archive-sync-{hashlib.blake2s(path.encode(), digest_size=6).hexdigest()}.lock"
    try:
        handle = open(Path(settings.DATA_DIR) / name, "ab")  # noqa: SIM115 (held below)
    except OSError:
        yield
        return
    with handle:
        deadline, held = time.monotonic() + wait, False
        while not held:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                if not wait:
                    raise Busy(f"another archive sync of {path} runs on this host") from None
                if time.monotonic() >= deadline:
                    log.warning("archive sync of %s: another sync still runs after %d s; "
                                "running beside it", path, wait)
                    break
                time.sleep(0.05)
        yield  # closing the file releases the lock


def _pages(path: str, after: int, batch_size: int, *, old_last: int | None,
           since: int | None, limit: int | None, fill_geo: bool, stop: threading.Event):
    """Pages of fail2ban's ``bans`` after rowid ``after``, each as (rows,
    archive values, unusable rows, the geo lookup prepared or None); an
    empty page at the end; none past ``limit`` rows. Run by
    :func:`_read_ahead`'s thread, on a connection of its own (sqlite3's are
    bound to their thread). It never touches BanGUI's database: geo's
    part here is memory and the MMDB only (:func:`prepare_countries`)."""
    con = open_readonly(path)
    read = 0
    try:
        while not stop.is_set():
            rows = database.bans_after(con, after, batch_size, old_last=old_last, since=since)
            values = []
            for row in rows:
                v = _event_values(row)
                if v is not None:
                    values.append(v)
            geo = prepare_countries(v[_IP] for v in values) if fill_geo and values else None
            yield rows, values, len(rows) - len(values), geo
            read += len(rows)
            if not rows or (limit is not None and read >= limit):
                return
            after = rows[-1][0]
    finally:
        con.close()


READ_AHEAD = 2  # pages read and parsed ahead of the one being written
_END, _FAILED = object(), object()


@contextmanager
def _read_ahead(pages, depth: int = READ_AHEAD):
    """Iterate ``pages(stop)`` (a generator) in a second thread, at most
    ``depth`` items ahead of the caller: fail2ban's pages are read and
    parsed (Python) while the caller's inserts run in the database
    (sqlite3 and psycopg release the GIL while the database works). Its
    exception is raised in the caller; leaving the block stops the thread."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in pages(stop):
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # handed to the caller
            put((_FAILED, exc))

    def items():
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, tuple) and len(item) == 2 and item[0] is _FAILED:
                raise item[1]
            yield item

    thread = threading.Thread(target=run, name="archive-sync-reader", daemon=True)
    thread.start()
    try:
        yield items()
    finally:
        stop.set()
        thread.join()


def sync(db_path: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE,
         full: bool = False, fill_geo: bool = True,
         write_rows: int | None = None, max_rows: int | None = None,
         wait: float = SYNC_WAIT_SECONDS, sent: Sent | None = None) -> SyncResult:
    """Copy ban rows fail2ban added since the last run (all of them on the
    first run, or with ``full``) into the archive. Safe to run again at any
    time, and after a crash at any point.

    Rows only: it never creates or drops an index or trigger, nor recounts
    the daily rollup (a node's database role may not, and every node syncs;
    the schema is the migrations' business). A first sync of a long history
    is this same loop, one transaction per ``batch_size`` rows. ``write_rows``
    (more rows per transaction) is for ``sync_bans --backfill``
    (:mod:`jails.archive.backfill`), which the archive's owner runs.
    ``max_rows``: stop after about that many rows (the node's tick, which
    shares the command lane: a long history arrives over several ticks).
    ``wait``: how long to wait for another sync of the file on this host;
    0 raises Busy at once (a web request never waits behind an import's
    copy). ``sent``: a blocklist import's addresses (:class:`Sent`)."""
    path = str(Path(db_path or fail2ban_db_path()).resolve())
    with _one_sync(path, wait):
        return _locked_sync(path, batch_size=batch_size, full=full, fill_geo=fill_geo,
                            write_rows=write_rows, max_rows=max_rows, sent=sent)


def _locked_sync(path: str, *, batch_size: int, full: bool, fill_geo: bool,
                 write_rows: int | None, max_rows: int | None,
                 sent: Sent | None = None) -> SyncResult:
    started = time.monotonic()
    state, _ = SyncState.objects.get_or_create(node=settings.BANGUI_NODE, db_path=path)
    run_at = timezone.now()
    try:
        with _index_cache():
            result = _sync(path, state, batch_size=batch_size, full=full, fill_geo=fill_geo,
                           started=started, write_rows=write_rows or batch_size,
                           max_rows=max_rows, sent=sent)
    except Exception as exc:
        SyncState.objects.filter(pk=state.pk).update(
            last_run_at=run_at, last_error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    SyncState.objects.filter(pk=state.pk).update(
        last_run_at=run_at, last_success_at=run_at, last_inserted=result.inserted,
        last_error="")
    if result.inserted and not rollup.triggers_present():
        # Only a SQLite backfill leaves them out (jails.archive.backfill),
        # until it ends; one that was killed needs the owner's repair (a
        # node may not create triggers): say so, once per run that wrote.
        log.warning("archive: the daily rollup's triggers are missing (a sync_bans --backfill "
                    "running, or interrupted): unless one is running, run manage.py sync_bans "
                    "--rebuild-rollup as the database's owner")
    return result


def _sync(path: str, state: SyncState, *, batch_size: int, full: bool, fill_geo: bool,
          started: float, write_rows: int, max_rows: int | None = None,
          sent: Sent | None = None) -> SyncResult:
    con = open_readonly(path)
    try:
        # The newest row now: where the cursor rests when a rewind reads nothing.
        newest = database.newest_ban(con)
        old_last, since, rewound = state.last_rowid, None, False
        if full:
            after = 0
        elif old_last and _row_fingerprint(con, old_last) != state.last_fingerprint:
            # fail2ban deleted the row we stopped at; its rowid and the ones
            # before it may now hold new bans. Re-read recent rows.
            rewound, after = True, 0
            last_ok = state.last_success_at or timezone.now()
            reference = min(int(last_ok.timestamp()), state.max_timeofban or 2**62)
            since = reference - int(SYNC_REWIND_OVERLAP.total_seconds())
        else:
            after = old_last
        read = inserted = invalid = 0
        last_row = None
        # Pages are read short (fail2ban's lock) and written one per
        # transaction; the owner's backfill writes several per transaction
        # (each commit writes every page it dirtied, and a bigger batch
        # dirties fewer pages per row), as many as its last transaction's
        # pace says fit in WRITE_HOLD_SECONDS (SQLite's write lock: a
        # 50,000-row transaction held it 3 s at a million rows). The first
        # writes four pages (20,000 rows, into a table still small).
        most_rows = max(batch_size, write_rows)
        write_rows = min(most_rows, 4 * batch_size)
        new = not full and not rewound
        pending: list[list] = []
        pending_rows = pending_max = 0
        # A bounded run (the tick) stops after max_rows; the cursor keeps
        # its place and the next run goes on. A rewind reads to the end.
        limit = None if rewound or not max_rows else max_rows
        with _read_ahead(lambda stop: _pages(path, after, batch_size, old_last=old_last,
                                             since=since, limit=limit, fill_geo=fill_geo,
                                             stop=stop)) as pages:
            for rows, values, bad, geo in pages:
                if rows:
                    invalid += bad
                    if fill_geo and values:
                        codes = lookup_countries((v[_IP] for v in values), geo)
                        for v in values:
                            v[_COUNTRY] = codes.get(v[_IP])
                    if sent is not None:
                        sent.mark(values)
                    last_row = rows[-1]
                    pending += values
                    pending_rows += len(rows)
                    pending_max = max(pending_max, max(r[3] for r in rows))
                    read += len(rows)
                enough = limit is not None and read >= limit
                if pending_rows and (not rows or pending_rows >= write_rows or enough):
                    # The cursor moves with the rows it covers, in one transaction.
                    began = time.monotonic()
                    inserted += _store_batch(state, pending, last_row[:4], pending_max, new)
                    if most_rows > batch_size:
                        pace = len(pending) / max(time.monotonic() - began, 1e-3)
                        write_rows = int(min(most_rows, 4 * write_rows,
                                             max(batch_size, pace * WRITE_HOLD_SECONDS)))
                    pending, pending_rows, pending_max = [], 0, 0
                if not rows or enough:
                    break
        if pending_rows:  # (the reader stops by itself at the limit)
            inserted += _store_batch(state, pending, last_row[:4], pending_max, new)
        if rewound and newest and (last_row is None or newest[0] > last_row[0]):
            # Rows between the last one read and the newest are old rows the
            # rewind filter left out; rest the cursor on the newest.
            _store_batch(state, [], newest, 0)
        elif rewound and newest is None:
            _store_batch(state, [], (0, "", "", 0), 0)
    finally:
        con.close()
    return SyncResult(db_path=path, read=read, inserted=inserted,
                      duration=time.monotonic() - started, rewound=rewound, invalid=invalid)


def purge(retention_days: int | None = None, *, chunk: int = 10_000) -> int:
    """Delete archive rows older than the retention; returns how many.
    Deletes in chunks so SQLite's write lock is held briefly each time."""
    days = settings.ARCHIVE_RETENTION_DAYS if retention_days is None else retention_days
    if days < 1:
        raise ValueError("retention must be at least one day")
    cutoff = timezone.now() - timedelta(days=days)
    total = 0
    while True:
        ids = list(BanEvent.objects.filter(banned_at__lt=cutoff).order_by()
                   .values_list("id", flat=True)[:chunk])
        if not ids:
            return total
        total += BanEvent.objects.filter(id__in=ids).delete()[0]


# --- bans made through BanGUI -------------------------------------------------------
_READ = object()  # record_manual's "read the live ban yourself"


def record_manual(ip: str, jail: str, user: str | None, bantime: int | None = None,
                  origin: str = Origin.MANUAL, *,
                  client: Fail2banClient | None = None, entry=_READ) -> BanEvent:
    """Archive a ban made through BanGUI right away, with who made it.

    The ban's start is read back from fail2ban's live bans (``bips``, one
    indexed lookup: :mod:`jails.live.state`; ``entry`` when the caller read it
    already, None for "not found") so it matches the row the next sync
    reads; that row may still differ by a second, which the sync reconciles
    (:func:`_adopt_manual`). If the sync got there first, this marks its
    row instead of adding one.
    """
    ip = validation.ban_target(ip)  # an address or a network
    jail = validation.jail_name(jail)
    if origin not in Origin.values:
        raise ValueError(f"unknown origin {origin!r}")
    client = client or link.client()
    if entry is _READ:
        entry = live.entry(jail, ip, client=client)
    banned_at = (entry.banned_at.astimezone(UTC) if entry and entry.banned_at
                 else timezone.now().replace(microsecond=0))
    if entry and entry.bantime is not None:
        bantime = entry.bantime
    elif bantime is None:
        try:
            bantime = client.bantime(jail)
        except (Fail2banError, TypeError, ValueError):
            bantime = -1
    for last_try in (False, True):
        try:
            with transaction.atomic():
                existing = (BanEvent.objects.filter(
                    node=settings.BANGUI_NODE, jail=jail, ip=ip,
                    banned_at__gte=banned_at - MANUAL_MATCH_SLACK,
                    banned_at__lte=banned_at + MANUAL_MATCH_SLACK).order_by("-banned_at").first())
                if existing is not None:
                    existing.origin, existing.actor = origin, user or existing.actor
                    existing.save(update_fields=["origin", "actor"])
                    return existing
                return BanEvent.objects.create(
                    node=settings.BANGUI_NODE, ip=ip, jail=jail, banned_at=banned_at,
                    bantime=int(bantime), failures=0, origin=origin, actor=user or None,
                )
        except IntegrityError:
            # The worker's sync inserted fail2ban's row between the look and
            # the insert (PostgreSQL's read committed; the 30-minute soak
            # met it once): look again and mark that row.
            if last_try:
                raise
    raise AssertionError("unreachable")


def _canonical_or_none(ip: str) -> str | None:
    try:
        return validation.ban_target(ip)
    except validation.InvalidInput:
        return None


def record_unban(ip: str, user: str | None, jail: str | None = None) -> int:
    """Note an unban made through BanGUI (see :func:`record_unbans`)."""
    return record_unbans([validation.ban_target(ip)], user, jail)


def record_unbans(ips: Iterable[str], user: str | None, jail: str | None = None) -> int:
    """Note unbans made through BanGUI (one IP, "unban all" on a jail, a jail
    stopped) on each IP's latest event per jail (all jails when ``jail`` is
    None) of this node's fail2ban that is still running by its bantime. Returns how many events
    were marked. Expiry is not recorded: it follows from ``banned_at +
    bantime``; live state comes from fail2ban."""
    # What fail2ban listed may hold text it accepted as an "IP": skip it.
    ips = sorted({ip for ip in map(_canonical_or_none, ips) if ip})
    jail = validation.jail_name(jail) if jail is not None else None
    now = timezone.now()
    marked = 0
    for start in range(0, len(ips), UNBAN_CHUNK):
        events = BanEvent.objects.filter(node=settings.BANGUI_NODE,
                                         ip__in=ips[start:start + UNBAN_CHUNK],
                                         unbanned_at__isnull=True)
        if jail is not None:
            events = events.filter(jail=jail)
        latest: dict[tuple[str, str], BanEvent] = {}
        for event in (events.order_by("jail", "ip", "-banned_at")
                      .only("id", "jail", "ip", "banned_at", "bantime")):
            latest.setdefault((event.jail, event.ip), event)
        ids = [e.pk for e in latest.values() if e.ends_at is None or e.ends_at > now]
        marked += BanEvent.objects.filter(pk__in=ids).update(unbanned_at=now,
                                                               unbanned_by=user or None)
    return marked


# --- health -----------------------------------------------------------------------------
def _span(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds / size
            text = f"{n:.0f}" if n == int(n) or n >= 10 else f"{n:.1f}"
            return f"{text} {unit}{'' if text == '1' else 's'}"
    return f"{seconds} seconds"


def purge_warning(dbpurgeage: int | None, sync_interval: int | None = None, *,
                  now: datetime | None = None) -> str | None:
    """A sentence for the UI when bans may escape the archive, else None.

    Warns when fail2ban keeps no database, when it forgets bans after less
    than three sync intervals (one missed or slow run would lose bans), and
    when the last successful sync is older than ``dbpurgeage`` (bans from the
    gap may already be gone).
    """
    interval = sync_interval or settings.ARCHIVE_SYNC_SECONDS
    if dbpurgeage is None:
        return ("fail2ban keeps no ban database (dbfile is None), so BanGUI cannot archive "
                "bans: set dbfile in fail2ban.local.")
    if dbpurgeage < 3 * interval:
        return (f"fail2ban forgets bans after {_span(dbpurgeage)} (dbpurgeage) but BanGUI "
                f"archives them every {_span(interval)}: bans can be purged before they are "
                f"archived. Set dbpurgeage to at least {_span(3 * interval)} (1 day is the "
                "usual default).")
    now = now or timezone.now()
    stats = SyncState.objects.aggregate(ok=Max("last_success_at"), run=Max("last_run_at"))
    if stats["ok"] is None:
        if stats["run"] is not None:
            error = (SyncState.objects.exclude(last_error="").order_by("-last_run_at")
                     .values_list("last_error", flat=True).first())
            return ("The ban archive has never synced successfully"
                    + (f" (last error: {error})" if error else "") + ".")
        return None
    gap = (now - stats["ok"]).total_seconds()
    if gap > dbpurgeage:
        return (f"The ban archive last synced {_span(gap)} ago, longer than fail2ban keeps "
                f"bans ({_span(dbpurgeage)}): bans from that gap may be missing. Is BanGUI's "
                "worker (manage.py qcluster) running?")
    return None
