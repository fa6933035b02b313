"""fail2ban's own sqlite file, read-only: the live bans (``bips``) by IP or
by page, and every ban it made (``bans``) in rowid order for the archive
sync (jails/archive/sync.py). The file's path comes from
``Fail2banClient.dbfile()``.

fail2ban writes a ban into ``bips`` when it makes it (``banip``, a filter's
ban, a restore after a restart) and deletes the row when it unbans (one IP,
``unban --all``); an expired ban keeps its row until fail2ban purges it, so
readers filter by ``timeofban + bantime``. A stopped jail keeps its rows too
(fail2ban restores them when the jail starts again), so readers pass the
running jails. ``bips`` is indexed by ``ip`` and by ``timeofban``: a lookup
of the IPs on a page costs those IPs, not the 50,000 others.

BanGUI never writes here: every connection is ``mode=ro``. Django-free, like
the rest of this package.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from .results import BanEntry

# SQLite's default limit of bound variables is 999 on old builds: stay below.
_CHUNK = 500
BUSY_TIMEOUT = 2.0  # s: fail2ban holds its write lock for milliseconds
# SQLite virtual-machine steps a page of live bans may spend walking the
# jail's bans before it scans instead (banned_rows): ~40 steps a row
# walked, ~2 ms here; a scan of 50,000 live bans is ~330,000 cheaper steps.
WALK_STEPS = 20_000
_STEP = 1_000


# What a read of an open file may raise (a lock held too long, a file
# replaced underneath): callers catch this name, not sqlite3's.
Error = sqlite3.Error
Connection = sqlite3.Connection


class Unreadable(Exception):
    """The file is missing, not a database, or BanGUI may not read it."""


def connect(path: str | Path, timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open fail2ban's sqlite file read-only (no write ever reaches it)."""
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise Unreadable(f"fail2ban's database {path} does not exist (or is not a file)")
    try:
        con = sqlite3.connect(f"file:{quote(str(resolved))}?mode=ro", uri=True, timeout=timeout)
        # Both tables BanGUI reads: bans (the archive sync), bips (live state).
        con.execute("SELECT (SELECT 1 FROM bans LIMIT 1), (SELECT 1 FROM bips LIMIT 1)")
    except sqlite3.Error as exc:
        raise Unreadable(f"cannot read fail2ban's database {path}: {exc}") from None
    return con


def _entry(ip: str, timeofban: float, bantime: int) -> BanEntry:
    start = datetime.fromtimestamp(int(timeofban), UTC)
    bantime = int(bantime)
    return BanEntry(ip=ip, banned_at=start, bantime=bantime,
                    ends_at=None if bantime < 0 else start + timedelta(seconds=bantime))


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def live_bans(con: sqlite3.Connection, ips: Iterable[str], jails: Iterable[str],
              now: float | None = None) -> dict[tuple[str, str], BanEntry]:
    """The live bans of ``ips`` in the running ``jails``, keyed by (jail, ip).
    One indexed query per 500 IPs."""
    ips, jails = sorted(set(ips)), sorted(set(jails))
    if not ips or not jails:
        return {}
    now = time.time() if now is None else now
    found: dict[tuple[str, str], BanEntry] = {}
    for start in range(0, len(ips), _CHUNK):
        chunk = ips[start:start + _CHUNK]
        rows = con.execute(
            f"SELECT jail, ip, timeofban, bantime FROM bips "  # noqa: S608 - placeholders only
            f"WHERE ip IN ({_placeholders(len(chunk))}) AND jail IN ({_placeholders(len(jails))}) "
            "AND (bantime < 0 OR timeofban + bantime > ?)",
            [*chunk, *jails, now]).fetchall()
        for jail, ip, timeofban, bantime in rows:
            found[(jail, ip)] = _entry(ip, timeofban, bantime)
    return found


def _banned_where(jail: str, query: str, now: float) -> tuple[str, list]:
    where = "bips.jail = ? AND (bips.bantime < 0 OR bips.timeofban + bips.bantime > ?)"
    args: list = [jail, now]
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where += " AND bips.ip LIKE ? ESCAPE '\\'"
        args.append(f"%{escaped}%")
    return where, args


def count_banned(con: sqlite3.Connection, jail: str, query: str = "",
                 now: float | None = None) -> int:
    """A jail's live bans (``query``: a substring of the IP). ``bips`` has
    no jail index: this reads every live ban, so callers without a query
    take the count from ``status JAIL short`` instead."""
    where, args = _banned_where(jail, query, time.time() if now is None else now)
    return con.execute(f"SELECT COUNT(*) FROM bips WHERE {where}", args).fetchone()[0]  # noqa: S608 - fixed clauses, values bound


# A page of a jail's live bans walked from the newest of its bans: ``bans``
# has a (jail, timeofban) index that ``bips`` lacks, and fail2ban writes a
# ban to both in one transaction with the same values, so a live ban is the
# jail's latest ``bans`` row of its IP with the ``bips`` row's timeofban.
# Order: ``bans`` rowids follow the same inserts as ``bips`` rowids, so ties
# of one second come out in the scan's order.
_WALK = ("SELECT bips.ip, bips.timeofban, bips.bantime, bips.bancount FROM bans "
         "JOIN bips ON bips.ip = bans.ip AND bips.jail = bans.jail "
         "AND bips.timeofban = bans.timeofban WHERE {where} AND bans.jail = ? "
         "AND NOT EXISTS (SELECT 1 FROM bans AS later WHERE later.jail = bans.jail "
         "AND later.ip = bans.ip AND later.rowid > bans.rowid) "
         "ORDER BY bans.timeofban DESC, bans.rowid DESC LIMIT ? OFFSET ?")
_SCAN = ("SELECT ip, timeofban, bantime, bancount FROM bips NOT INDEXED WHERE {where} "
         "ORDER BY timeofban DESC, rowid DESC LIMIT ? OFFSET ?")


def banned_rows(con: sqlite3.Connection, jail: str, query: str, offset: int, limit: int,
                now: float | None = None) -> list[tuple[BanEntry, int]]:
    """``limit`` of a jail's live bans from ``offset``, newest first (ties:
    the later ban first), each with its ban count."""
    now = time.time() if now is None else now
    # ``bips`` has no jail index: a scan with a sort reads every live ban
    # (~5-8 ms at 50,000), and its timeofban index walks every newer ban of
    # the other jails first. So walk the jail's own ``bans`` newest first,
    # within a budget of SQLite steps (~40 a row: pages to a few hundred
    # rows deep). fail2ban purges ``bans`` older than its dbpurgeage but
    # keeps longer bans in ``bips``: such a ban is older than every ``bans``
    # row the walk meets, so a full page walked is the scan's page, and a
    # page the walk could not fill (the last, or past the purge) is scanned.
    where, args = _banned_where(jail, query, now)
    spent = iter(range(WALK_STEPS // _STEP))
    con.set_progress_handler(lambda: next(spent, None) is None, _STEP)
    try:
        rows = con.execute(_WALK.format(where=where), [*args, jail, limit, offset]).fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" not in str(exc):
            raise
        rows = []
    finally:
        con.set_progress_handler(None, 0)
    if len(rows) < limit:
        rows = con.execute(_SCAN.format(where=where), [*args, limit, offset]).fetchall()
    return [(_entry(ip, tob, bt), int(bc)) for ip, tob, bt, bc in rows]


# --- the bans table: every ban fail2ban made, read by the archive sync -----------------
BANS_COLUMNS = "rowid, jail, ip, timeofban, bantime, bancount, data"


def bans_row(con: sqlite3.Connection, rowid: int) -> tuple | None:
    """One row of ``bans`` (BANS_COLUMNS), None when fail2ban deleted it."""
    return con.execute(f"SELECT {BANS_COLUMNS} FROM bans WHERE rowid = ?",  # noqa: S608
                       (rowid,)).fetchone()


def bans_after(con: sqlite3.Connection, after: int, limit: int, *,
               old_last: int | None = None, since: int | None = None) -> list[tuple]:
    """Up to ``limit`` rows of ``bans`` (BANS_COLUMNS) after ``after`` in
    rowid order; with ``since``, rows up to ``old_last`` only when their
    ``timeofban`` is at least ``since`` (a re-read after fail2ban deleted rows)."""
    if since is None:
        sql = f"SELECT {BANS_COLUMNS} FROM bans WHERE rowid > ? ORDER BY rowid LIMIT ?"  # noqa: S608
        return con.execute(sql, (after, limit)).fetchall()
    # Only constants are formatted into these statements; values are bound.
    sql = (f"SELECT {BANS_COLUMNS} FROM bans WHERE rowid > ? "  # noqa: S608
           "AND (rowid > ? OR timeofban >= ?) ORDER BY rowid LIMIT ?")
    return con.execute(sql, (after, old_last, since, limit)).fetchall()


def count_bans_since(con: sqlite3.Connection, jail: str, since: int) -> int:
    """Rows of ``bans`` for ``jail`` with ``timeofban >= since`` (epoch s)."""
    return con.execute("SELECT count(*) FROM bans WHERE jail = ? AND timeofban >= ?",
                       (jail, since)).fetchone()[0]


def live_fingerprint(con: sqlite3.Connection) -> tuple:
    """One cheap read that moves whenever the live bans change: every ban
    adds a ``bans`` row (its newest rowid moves), an unban removes a
    ``bips`` row, a longer ban changes its bantime. Expiry does not move it
    (readers compare the end with their clock)."""
    return tuple(con.execute(
        "SELECT count(*), total(timeofban), total(bantime), total(bancount), "
        "(SELECT max(rowid) FROM bans) FROM bips").fetchone())


def all_live_bans(con: sqlite3.Connection, now: float | None = None) -> list[tuple]:
    """Every ban still running by its time, of every jail: (jail, ip,
    timeofban, bantime, bancount)."""
    return con.execute(
        "SELECT jail, ip, timeofban, bantime, bancount FROM bips "
        "WHERE bantime < 0 OR timeofban + bantime > ?",
        [time.time() if now is None else now]).fetchall()


def newest_ban(con: sqlite3.Connection) -> tuple | None:
    """The newest ``bans`` row: (rowid, jail, ip, timeofban), None when empty."""
    return con.execute("SELECT rowid, jail, ip, timeofban FROM bans "
                       "ORDER BY rowid DESC LIMIT 1").fetchone()
