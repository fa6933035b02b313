"""Bans per day: the rollup behind the long-window charts, the map and the
ban table's total.

A 365-day chart over the raw archive reads every ban of the year (a million
rows: 0.1 to 0.4 s, cold). ``BanDay`` holds, per UTC day and origin, the bans
of each jail and the bans of each country, so a year is at most
365 x 3 x (jails + countries) rows, whatever the number of bans.

**Kept exact by the database itself**: triggers on ``jails_banevent`` add
and subtract on every INSERT, DELETE and UPDATE of the counted columns,
whoever writes (the sync, manual bans, geo filling countries, the purge,
the admin, tests). No Django code writes ``BanDay``; :func:`rebuild`
recomputes it from scratch (``manage.py sync_bans --rebuild-rollup``).

**Who installs them**: migrations 0004 and 0008, from a frozen copy of
this module's SQL (a migration imports no app code); after that only the
owner's commands, through :mod:`jails.archive.backfill`. The sync a node
runs never creates, drops or recounts anything here (its database role
may not: only the table's owner may).

- SQLite: row triggers with an upsert. The archive stores ``banned_at`` as
  UTC text, so the day is its first ten characters. The owner's
  ``sync_bans --backfill`` drops them and rebuilds once at the end
  (``jails.archive.backfill``): two upserts per row would add half again to
  a million-row copy.
- PostgreSQL: statement triggers with transition tables: one grouped upsert
  per statement, so a 50,000-row insert costs one ``GROUP BY`` of its rows.

**Reading** (:func:`counts`): a window does not start at midnight, so the
whole UTC days inside it come from ``BanDay`` and the partial days at its
edges from ``BanEvent`` (two short ranges of the ``banned_at`` index): two
queries, exact to the second. What the rollup cannot answer (an IP search;
jail and country filtered together; countries of one jail, jails of one
country) is counted in ``BanEvent`` over the whole window.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import random
from datetime import UTC, date, datetime, time, timedelta
from time import time as epoch

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import CharField, Count, F, Func, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import timezone

from bangui.requestmemo import after_response, in_request, once_per_request

BANEVENT = "jails_banevent"
BANDAY = "jails_banday"
_KEY = "kind, day, key, origin"
# (kind, the BanEvent column counted under it)
_KINDS = (("jail", "{row}jail"), ("country", "coalesce({row}country_code, '')"))

# -- triggers -----------------------------------------------------------------


def _sqlite_add(row: str) -> str:
    day = f"substr({row}.banned_at, 1, 10)"
    values = ", ".join(f"('{kind}', {day}, {column.format(row=row + '.')}, {row}.origin, 1)"
                       for kind, column in _KINDS)
    return f"""
    INSERT INTO {BANDAY} ({_KEY}, bans) VALUES {values}
    ON CONFLICT ({_KEY}) DO UPDATE SET bans = bans + 1;"""


def _sqlite_subtract(row: str) -> str:
    day = f"substr({row}.banned_at, 1, 10)"
    out = ""
    for kind, column in _KINDS:
        match = (f"kind = '{kind}' AND day = {day} AND key = {column.format(row=row + '.')} "
                 f"AND origin = {row}.origin")
        out += f"""
    UPDATE {BANDAY} SET bans = bans - 1 WHERE {match};
    DELETE FROM {BANDAY} WHERE {match} AND bans <= 0;"""
    return out


SQLITE_TRIGGERS = {
    "banevent_banday_insert": f"""
CREATE TRIGGER IF NOT EXISTS banevent_banday_insert AFTER INSERT ON {BANEVENT}
BEGIN{_sqlite_add("NEW")}
END""",
    "banevent_banday_delete": f"""
CREATE TRIGGER IF NOT EXISTS banevent_banday_delete AFTER DELETE ON {BANEVENT}
BEGIN{_sqlite_subtract("OLD")}
END""",
    "banevent_banday_update": f"""
CREATE TRIGGER IF NOT EXISTS banevent_banday_update
AFTER UPDATE OF banned_at, jail, country_code, origin ON {BANEVENT}
WHEN substr(OLD.banned_at, 1, 10) IS NOT substr(NEW.banned_at, 1, 10)
  OR OLD.jail IS NOT NEW.jail OR OLD.country_code IS NOT NEW.country_code
  OR OLD.origin IS NOT NEW.origin
BEGIN{_sqlite_subtract("OLD")}{_sqlite_add("NEW")}
END""",
}

_PG_DAY = "(banned_at AT TIME ZONE 'UTC')::date"


def _pg_rows(table: str, sign: int) -> str:
    """The rollup keys of the rows of a transition table, each with ``n``."""
    return " UNION ALL ".join(
        f"SELECT '{kind}'::varchar AS kind, {_PG_DAY} AS day, {column.format(row='')} AS key, "
        f"origin, {sign}::bigint AS n FROM {table}"
        for kind, column in _KINDS)


def _pg_apply(sources: str, shrinks: bool) -> str:
    """Upsert the per-key sums of ``sources`` in key order (concurrent
    statements lock rollup rows in one order: no deadlock between them);
    then, when rows went away, drop their keys that reached zero (a second
    statement: a data-modifying CTE cannot see what the upsert beside it
    changed)."""
    sql = f"""
    INSERT INTO {BANDAY} ({_KEY}, bans)
    SELECT {_KEY}, sum(n) FROM ({sources}) AS s
    GROUP BY {_KEY} HAVING sum(n) <> 0 ORDER BY {_KEY}
    ON CONFLICT ({_KEY}) DO UPDATE SET bans = {BANDAY}.bans + EXCLUDED.bans;"""
    if shrinks:
        sql += f"""
    DELETE FROM {BANDAY} b
    USING (SELECT DISTINCT {_KEY} FROM ({_pg_rows("old_rows", -1)}) AS o) AS gone
    WHERE b.bans <= 0
      AND (b.kind, b.day, b.key, b.origin) = (gone.kind, gone.day, gone.key, gone.origin);"""
    return sql


PG_FUNCTIONS = {
    "banday_on_insert": _pg_apply(_pg_rows("new_rows", 1), shrinks=False),
    "banday_on_delete": _pg_apply(_pg_rows("old_rows", -1), shrinks=True),
    "banday_on_update": _pg_apply(
        f"{_pg_rows('new_rows', 1)} UNION ALL {_pg_rows('old_rows', -1)}", shrinks=True),
}
PG_TRIGGERS = {
    "banday_on_insert": "AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows",
    "banday_on_delete": "AFTER DELETE ON {t} REFERENCING OLD TABLE AS old_rows",
    "banday_on_update": ("AFTER UPDATE ON {t} REFERENCING OLD TABLE AS old_rows "
                         "NEW TABLE AS new_rows"),
}


def install_triggers(conn=None) -> None:
    """Create the triggers (idempotent): the backfill command and
    ``--rebuild-rollup``. Migrations 0004 and 0008 run a frozen copy of
    this SQL; should it change, a new migration installs the new text
    (jails/tests/test_migrations_frozen.py compares the two)."""
    conn = conn or connection
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            for sql in SQLITE_TRIGGERS.values():
                cursor.execute(sql)
        elif conn.vendor == "postgresql":
            for name, body in PG_FUNCTIONS.items():
                cursor.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger "
                               f"LANGUAGE plpgsql AS $body$ BEGIN {body} RETURN NULL; END $body$")
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {BANEVENT}")
                cursor.execute(f"CREATE TRIGGER {name} {PG_TRIGGERS[name].format(t=BANEVENT)} "
                               f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
        else:  # pragma: no cover (settings allow only these two)
            raise NotImplementedError(f"no BanDay triggers for {conn.vendor}")


def drop_triggers(conn=None) -> None:
    conn = conn or connection
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif conn.vendor == "postgresql":
            for name in PG_FUNCTIONS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {BANEVENT}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")


def triggers_present(conn=None) -> bool:
    """All three triggers exist (one query)."""
    conn = conn or connection
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                           "AND tbl_name = %s", [BANEVENT])
            return cursor.fetchone()[0] >= len(SQLITE_TRIGGERS)
        cursor.execute("SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE c.relname = %s AND NOT t.tgisinternal AND t.tgname LIKE 'banday_%%'",
                       [BANEVENT])
        return cursor.fetchone()[0] >= len(PG_TRIGGERS)


def rebuild(conn=None) -> int:
    """Recompute the whole rollup from the archive (one grouped scan per
    kind); returns the number of rollup rows. Callers run it inside a
    transaction, or with the archive quiet (the end of the owner's
    backfill; migration 0004 runs a frozen copy)."""
    conn = conn or connection
    day = "substr(banned_at, 1, 10)" if conn.vendor == "sqlite" else _PG_DAY
    with conn.cursor() as cursor:
        cursor.execute(f"DELETE FROM {BANDAY}")
        rows = 0
        for kind, column in _KINDS:
            cursor.execute(
                f"INSERT INTO {BANDAY} ({_KEY}, bans) "
                f"SELECT '{kind}', {day}, {column.format(row='')}, origin, count(*) "
                f"FROM {BANEVENT} GROUP BY 2, 3, 4")
            rows += cursor.rowcount
        return rows


# -- reading ------------------------------------------------------------------

def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def full_days(start: datetime, end: datetime) -> tuple[date, date] | None:
    """The first and last UTC day wholly inside ``[start, end]`` (every
    instant of the day is >= start and <= end), or None."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1)
    last = end.date() - timedelta(days=1)
    return (first, last) if first <= last else None


def answers(group: str | None, *, jail: str | None = None, country: str | None = None,
            ip_query: str | None = None, node: str | None = None) -> bool:
    """Whether :func:`counts` reads the rollup for this grouping and these
    filters (else it counts the archive over the whole window). ``group``
    "hour" is never in the rollup; nor is one node's share (the rollup
    counts every node's bans together: docs/fleet.md)."""
    if group == "hour" or (ip_query and ip_query.strip()) or node:
        return False
    return _kind_for(group, jail, country) is not None


def _kind_for(group: str | None, jail: str | None, country: str | None) -> str | None:
    """Which half of the rollup answers this question, or None."""
    if group == "hour":
        return None
    if group == "day" or group is None:
        if jail and country:
            return None
        return "country" if country else "jail"
    if group == "jail":
        return None if country else "jail"
    return None if jail else "country"  # group == "country_code"


def _sqlite_day():
    # SQLite keeps datetimes as UTC text: its first ten characters are the
    # day, far cheaper than Django's Trunc (a Python function per row there).
    return Func(F("banned_at"), Value(1), Value(10), function="substr", output_field=CharField())


def _sqlite_hour():
    # ... and its first 13 the hour ("YYYY-MM-DD HH").
    return Func(F("banned_at"), Value(1), Value(13), function="substr", output_field=CharField())


# The whole days' part of a count, for the views, from Django's cache (per
# process: process memory is only a read-through cache) for a minute: those days are in the past,
# so only a late sync row, geo filling a country or the purge changes them;
# new bans land in today's edge, which is always read. The key holds the
# first and last day, so at midnight the window moves on by itself. Calls
# with an explicit ``now`` (tests, benches) never use it.
DAYS_CACHE_SECONDS = 60
_DAYS_CACHE_PREFIX = "bangui:rollup-days:"


def remembered(prefix: str, parts: tuple, compute, seconds: float = DAYS_CACHE_SECONDS):
    """``compute()``, or what it gave at most ``seconds`` ago for the same
    ``parts`` (anything with a stable ``repr``; the value must pickle):
    the one read-through cache of the archive's aggregates (this module's
    settled days and hours, jails.archive.queries' long windows).

    Each value is kept for a random time between half of ``seconds`` and
    ``seconds`` (never longer): a page's dozen aggregates, filled by one
    request, would otherwise all expire together. Half-way through that
    time it is due: a request still gets it, and computes it afresh after
    its answer has gone out (bangui.requestmemo.after_response; one worker
    of the host claims it). So, while the pages are in use, no request
    waits for a refill: a year's map or dashboard paid three to five times
    its usual time once a minute. A value nobody asked for in its time is
    computed by the next request that needs it, as before."""
    key = cache_key(prefix, parts)
    held = cache.get(key)
    if held is None:
        return _fill(key, compute, seconds)
    value, due = held
    if epoch() >= due:
        after_response(key, lambda: _refresh(key, compute, seconds))
    return value


def cache_key(prefix: str, parts: tuple) -> str:
    # (value, due) since 2026-12-07: "2:" keeps an older plain value out.
    return prefix + "2:" + hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _fill(key: str, compute, seconds: float):
    value = compute()
    life = seconds * random.uniform(0.5, 1.0)  # noqa: S311 (not a secret)
    cache.set(key, (value, epoch() + life / 2), life)
    return value


def _refresh(key: str, compute, seconds: float) -> None:
    """One process of the host computes a due value; the others keep
    answering with it meanwhile."""
    if cache.add(key + ":refreshing", 1, max(1.0, seconds / 4)):
        _fill(key, compute, seconds)


def _whole_days(kind: str, first: date, last: date, jail: str | None, country: str | None,
                origin: str | None, group: str | None) -> dict:
    """Sums of the rollup rows of ``kind`` for ``first`` .. ``last``."""
    from jails.models import BanDay

    rolled = BanDay.objects.filter(kind=kind, day__gte=first, day__lte=last)
    if kind == "jail" and jail:
        rolled = rolled.filter(key=jail)
    if kind == "country" and country:
        rolled = rolled.filter(key="" if country.lower() == "unknown" else country.upper())
    if origin:
        rolled = rolled.filter(origin=origin)
    if group is None:
        return {None: rolled.aggregate(n=Sum("bans"))["n"] or 0}
    column = "day" if group == "day" else "key"
    out: dict = {}
    for key, n in rolled.order_by().values(column).annotate(n=Sum("bans")).values_list(column,
                                                                                       "n"):
        if group == "country_code":
            key = key or None
        out[key] = out.get(key, 0) + n
    return out


def counts(filtered: QuerySet, start: datetime, end: datetime, group: str | None, *,
           jail: str | None = None, country: str | None = None,
           origin: str | None = None, node: str | None = None,
           cache_days: bool = False) -> dict:
    """Bans with ``start <= banned_at <= end`` among ``filtered`` (BanEvent
    rows already filtered by the same jail / country / origin given here,
    but not by time), keyed by ``group``: ``"day"`` (a ``date``),
    ``"hour"`` (an aware UTC ``datetime``), ``"jail"``, ``"country_code"``
    (None: not resolved), or one total under the key None. ``country`` is
    the dashboard's filter value: an ISO code or ``"unknown"``. The whole
    days come from the rollup when it holds that grouping, the edge days
    from the archive. ``cache_days``: take the settled part from the last
    ``DAYS_CACHE_SECONDS`` — the rollup's whole days, and the archive's
    whole past hours (see :func:`_archive_counts`); the current hour and
    the window's first partial hour are always read. For filters the
    rollup does not know (an IP search), count the archive with
    :func:`count_rows`. ``filtered`` must be the archive filtered by exactly
    ``jail``, ``country``, ``origin`` and ``node``: the settled hours'
    cache is keyed on those (compiling the queryset's SQL for a key cost
    more than the cached query)."""
    kind = None if node else _kind_for(group, jail, country)  # node: see answers()
    days = full_days(start, end) if kind else None
    key = (jail, country, origin, node)
    if days is None:
        return _archive_counts(filtered, [(start, end, True)], group, {}, cache_days, end, key)
    first, last = days
    after = _midnight(last + timedelta(days=1))
    args = (kind, first, last, jail, country, origin, group)
    out = (remembered(_DAYS_CACHE_PREFIX, args, lambda: _whole_days(*args)) if cache_days
           else _whole_days(*args))
    ranges = [(start, _midnight(first), False), (after, end, True)]
    return _archive_counts(filtered, ranges, group, dict(out), cache_days, end, key)


# The archive's part of a count for the views, split at whole hours: the
# whole hours before the current one are settled (only a late sync row,
# geo or the purge changes them), so their counts are kept a minute like
# the rollup's days; the current hour and the window's first partial hour
# are always read. Without it, a dashboard over the last 24 hours with
# ~50,000 bans in them (a fleet: docs/fleet.md "Speed") counts all of them
# four times per render. The key holds the filters and the hour bounds, so
# the window moves on by itself at each full hour.
_HOURS_CACHE_PREFIX = "bangui:archive-hours:"
_HOUR = timedelta(hours=1)


def _floor_hour(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _archive_counts(filtered: QuerySet, ranges: list[tuple[datetime, datetime, bool]],
                    group: str | None, out: dict, cache_hours: bool, now: datetime,
                    key: tuple = ()) -> dict:
    """Add the archive rows of ``ranges`` (``(low, high, high included)``,
    lows always included) to ``out``, keyed by ``group``. Two explicit
    ranges per query, so the planner reads each from an index (SQLite:
    MULTI-INDEX OR) instead of scanning between them. ``key``: the filters
    of ``filtered``, as the settled hours' cache knows them."""
    read, settled = [], []  # read: (low, high, high included)
    for low, high, inclusive in ranges:
        if low > high or (low == high and not inclusive):
            continue
        first_hour = _floor_hour(low) + (_HOUR if _floor_hour(low) != low else timedelta(0))
        last_hour = min(_floor_hour(high), _floor_hour(now))
        if not cache_hours or first_hour >= last_hour:
            read.append((low, high, inclusive))
            continue
        settled.append((first_hour, last_hour))
        read += [(low, first_hour, False), (last_hour, high, inclusive)]
    if settled:
        spans = functools.reduce(operator.or_, (Q(banned_at__gte=low, banned_at__lt=high)
                                                for low, high in settled))
        part = remembered(_HOURS_CACHE_PREFIX, (key, group, settled),
                          lambda: count_rows(filtered.filter(spans), group))
        for k, n in part.items():
            out[k] = out.get(k, 0) + n
    if not read:
        return out
    def rows_of(spans):
        return filtered.filter(functools.reduce(operator.or_, (
            Q(banned_at__gte=low) & (Q(banned_at__lte=high) if inclusive
                                     else Q(banned_at__lt=high))
            for low, high, inclusive in spans)))

    if not (cache_hours and in_request()):
        return count_rows(rows_of(read), group, out)
    # A page counts the same unsettled rows (the window's first partial
    # hour, the current hour) by total, hour or day, jail and country, each
    # a query; counted once by all three columns, the others are sums of it
    # (one query where there were four: with 50,000 bans in the current
    # hour, 50-60 ms of SQL a render). Per request, with the request's one
    # "now" (queries.request_now), so every count of the page sees the
    # same rows. The current hour itself is kept while the rollup says
    # nothing changed (:func:`_current_hour`).
    # The clock's hour, not ``now`` (the count's end: a year ago for the
    # previous window, whose "rows from its hour on" are the whole year).
    this_hour = _floor_hour(timezone.now())
    current = [r for r in read if r[0] == this_hour and r[1] >= now and r[2]]
    read = [r for r in read if r not in current]
    cells = once_per_request(("archive.unsettled", key, tuple(read), tuple(current)), lambda: (
        (_cells(rows_of(read)) if read else [])
        + [c for _, high, _ in current for c in _current_hour(filtered, key, this_hour, high)]))
    for hour, jail, country, n in cells:
        k = {None: None, "hour": hour, "day": hour.date(), "jail": jail,
             "country_code": country}[group]
        out[k] = out.get(k, 0) + n
    return out


# The current hour's rows, counted again only when the rollup changed.
# BanDay's triggers change a row of it in the writer's own transaction on
# every insert, delete and change of a counted column (jail, country,
# origin, day), whoever writes and from whichever node; so its rows from
# this hour's day on say whether the hour's cells can have changed. What
# they cannot see (a manual ban re-timed within its day) is kept at most
# a minute, as the settled hours are. Without it, 50,000 bans archived in
# this hour (a big blocklist import) were grouped again on every render:
# 36 ms of SQL on SQLite. Rows stamped after the window's end (another
# node's clock ahead) are in the cached cells and taken out.
_NOW_HOUR_CACHE_PREFIX = "bangui:archive-now-hour:"


def _current_hour(filtered: QuerySet, key: tuple, hour: datetime,
                  high: datetime) -> list[tuple[datetime, str, str | None, int]]:
    """The cells of ``filtered``'s rows from ``hour`` (the current one) to
    ``high`` (the window's end), as :func:`_cells` counts them."""
    state, later = once_per_request(("archive.rollup-state", hour, high),
                                    lambda: _rollup_state(hour.date(), high))
    cells = remembered(_NOW_HOUR_CACHE_PREFIX, (key, hour, state),
                       lambda: _cells(filtered.filter(banned_at__gte=hour)))
    if not later:
        return cells
    ahead = {(h, j, c): n for h, j, c, n in _cells(filtered.filter(banned_at__gt=high))}
    return [(h, j, c, n - ahead.get((h, j, c), 0)) for h, j, c, n in cells
            if n > ahead.get((h, j, c), 0)]


def _rollup_state(first: date, after: datetime) -> tuple[tuple, int]:
    """Every rollup row from day ``first`` on, and how many archive rows
    start after ``after``: two index reads in one statement (one round
    trip: on PostgreSQL each costs ~0.3 ms, a render makes a dozen). The
    count's row is the one with kind "later"."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 'later', NULL, NULL, NULL, COUNT(*) FROM {BANEVENT} WHERE banned_at > %s "
            f"UNION ALL SELECT kind, day, key, origin, bans FROM {BANDAY} "
            "WHERE kind IN ('jail', 'country') AND day >= %s",
            [connection.ops.adapt_datetimefield_value(after),
             connection.ops.adapt_datefield_value(first)])
        rows = cursor.fetchall()
    later = next(n for kind, *_, n in rows if kind == "later")
    state = tuple(sorted((kind, str(day), k, origin, n)
                         for kind, day, k, origin, n in rows if kind != "later"))
    return state, later


# The hour of a row, as text "YYYY-MM-DD HH" (SQLite) or a UTC timestamp.
_HOUR_SQL = {"sqlite": "substr(banned_at, 1, 13)",
             "postgresql": "date_trunc('hour', banned_at AT TIME ZONE 'UTC')"}


def _cells(rows: QuerySet) -> list[tuple[datetime, str, str | None, int]]:
    """``rows`` (archive rows, filtered on their own columns) counted by
    (UTC hour, jail, country or None).

    The ORM compiles only ``rows``' WHERE, so the filters keep the one
    meaning they have everywhere; the GROUP BY around it is written here.
    Built through ``annotate`` and ``values`` the same count took 1.0 ms of
    Python a call against 0.4 ms, and a render makes two (#29)."""
    query = rows.query
    try:
        where, params = query.get_compiler(connection=connection).compile(query.where)
    except EmptyResultSet:
        return []
    except FullResultSet:
        where, params = "1 = 1", ()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_HOUR_SQL[connection.vendor]}, jail, COALESCE(country_code, ''), "
            f"COUNT(*) FROM {BANEVENT} WHERE {where} GROUP BY 1, 2, 3", params)
        grouped = cursor.fetchall()
    return [((datetime.fromisoformat(b) if isinstance(b, str) else b).replace(tzinfo=UTC),
             jail, cc or None, n) for b, jail, cc, n in grouped]


def count_rows(rows: QuerySet, group: str | None, out: dict | None = None) -> dict:
    """The archive rows ``rows`` (already limited to the window) counted by
    ``group`` as :func:`counts` keys them, added to ``out``."""
    out = {} if out is None else out
    edges = rows
    if group is None:
        out[None] = out.get(None, 0) + edges.count()
        return out
    # Group by an expression, not the bare column: SQLite would otherwise
    # walk the (column, banned_at) index for its order and read every row.
    if group == "day":
        expression = _sqlite_day() if connection.vendor == "sqlite" else TruncDay(
            "banned_at", tzinfo=UTC)
    elif group == "hour":
        expression = _sqlite_hour() if connection.vendor == "sqlite" else TruncHour(
            "banned_at", tzinfo=UTC)
    else:
        expression = Coalesce(group, Value(""))
    grouped = (edges.order_by().annotate(bucket=expression).values("bucket")
               .annotate(n=Count("id")).values_list("bucket", "n"))
    for key, n in grouped:
        if group == "day":
            key = date.fromisoformat(key) if isinstance(key, str) else key.astimezone(UTC).date()
        elif group == "hour":  # SQLite: "YYYY-MM-DD HH" text, in UTC
            key = (datetime.fromisoformat(key).replace(tzinfo=UTC) if isinstance(key, str)
                   else key.astimezone(UTC))
        elif group == "country_code":
            key = key or None
        out[key] = out.get(key, 0) + n
    return out
