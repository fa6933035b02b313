"""What the dashboard shows, as plain query functions over the ban archive.

No views here: the dashboard views parse their input with forms and call
these. Each function costs a small, fixed number of SQL queries (the ban
table: one count, one page) whatever the window or page. Times are UTC.
Live state (still banned, time left) is fail2ban's: :func:`current_bans`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import CharField, Count, F, Func, QuerySet, Value
from django.db.models.functions import TruncDay, TruncHour, TruncWeek
from django.utils import timezone

from jails import link
from jails.constants import (
    BAN_TABLE_MAX_PER_PAGE,
    BAN_TABLE_SORTS,
    WINDOW_BUCKET,
    WINDOW_SPAN,
    Origin,
    Window,
)
from jails.fail2ban import Fail2banClient, Fail2banError
from jails.fail2ban.results import BanEntry
from jails.models import BanEvent

UNKNOWN_COUNTRY = "unknown"  # country filter value for "not resolved"
FUTURE_SLACK = timedelta(seconds=2)

# Read-through cache of the long-window aggregates (DESIGN.md principle 3:
# process-local memory is only a read-through cache of the database). A
# 365-day GROUP BY reads every row of the window (hundreds of ms at a
# million bans); the charts of windows this long move little in a minute,
# and the archive sync itself runs once a minute. Only calls without an
# explicit ``now`` (the views') are cached; the ban table never is.
AGGREGATE_CACHE_SECONDS = 60
AGGREGATE_CACHE_MIN_SPAN = timedelta(days=7)
_CACHE_PREFIX = "bangui:archive-aggregate:"


@dataclass(frozen=True)
class BanTable:
    rows: list[BanEvent]
    total: int
    page: int
    per_page: int
    num_pages: int

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def start_index(self) -> int:
        """1-based index of the first row shown (0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def end_index(self) -> int:
        return self.start_index + len(self.rows) - 1 if self.rows else 0


@dataclass(frozen=True)
class Bucket:
    start: datetime  # UTC
    count: int


@dataclass(frozen=True)
class CountryCount:
    country_code: str
    count: int


@dataclass(frozen=True)
class JailCount:
    jail: str
    count: int


def cached_aggregate(name: str, window: str, now: datetime | None, key: tuple, compute):
    """``compute()``, or its result from the last ``AGGREGATE_CACHE_SECONDS``
    when the window is long (>= 7 days) and ``now`` is not given. ``key``:
    the filters (anything with a stable ``repr``). The value must pickle."""
    if now is not None or WINDOW_SPAN[Window(window)] < AGGREGATE_CACHE_MIN_SPAN:
        return compute()
    digest = hashlib.sha256(repr((name, str(window), key)).encode()).hexdigest()[:32]
    cache_key = _CACHE_PREFIX + digest
    value = cache.get(cache_key)
    if value is None:
        value = compute()
        cache.set(cache_key, value, AGGREGATE_CACHE_SECONDS)
    return value


def window_start(window: str, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - WINDOW_SPAN[Window(window)]


def events(window: str, *, jail: str | None = None, country: str | None = None,
           origin: str | None = None, ip_query: str | None = None,
           now: datetime | None = None) -> QuerySet[BanEvent]:
    """Archive rows in the window, filtered. ``country`` is an ISO code or
    ``"unknown"``; ``ip_query`` an exact address, or else an address prefix
    (``"192.0.2."``, ``"2001:db8:"``)."""
    now = now or timezone.now()
    # fail2ban stores a ban's start rounded to the second, so a ban made a
    # moment ago may carry a time up to half a second ahead of now.
    qs = BanEvent.objects.filter(banned_at__gte=window_start(window, now),
                                 banned_at__lte=now + FUTURE_SLACK)
    if jail:
        qs = qs.filter(jail=jail)
    if country:
        if country.lower() == UNKNOWN_COUNTRY:
            qs = qs.filter(country_code__isnull=True)
        else:
            qs = qs.filter(country_code=country.upper())
    if origin:
        qs = qs.filter(origin=Origin(origin))
    if ip_query and ip_query.strip():
        text = ip_query.strip()
        try:
            qs = qs.filter(ip=str(ipaddress.ip_address(text)))
        except ValueError:
            prefix = text.lower()
            qs = qs.filter(ip__startswith=prefix)
            if connection.vendor == "sqlite" and prefix:
                # SQLite's LIKE is case-insensitive, so it cannot use the
                # (ip, banned_at) index; the same prefix as a BINARY range
                # can. (Not on PostgreSQL: under a linguistic collation a
                # text range is not a prefix.)
                qs = qs.filter(ip__gte=prefix, ip__lt=prefix[:-1] + chr(ord(prefix[-1]) + 1))
    return qs


def ban_table(window: str, jail: str | None = None, country: str | None = None,
              origin: str | None = None, ip_query: str | None = None,
              sort: str = "-banned_at", page: int = 1, per_page: int = 50, *,
              now: datetime | None = None) -> BanTable:
    """One page of bans, newest first by default. Two queries: a count and
    the page. A page past the end shows the last page."""
    field = sort.removeprefix("-")
    if field not in BAN_TABLE_SORTS:
        raise ValueError(f"cannot sort by {sort!r}; use one of {', '.join(BAN_TABLE_SORTS)}")
    per_page = max(1, min(int(per_page), BAN_TABLE_MAX_PER_PAGE))
    qs = events(window, jail=jail, country=country, origin=origin, ip_query=ip_query, now=now)
    total = qs.count()
    num_pages = max(1, math.ceil(total / per_page))
    page = max(1, min(int(page), num_pages))
    tie = "-id" if sort.startswith("-") else "id"
    offset = (page - 1) * per_page
    rows = list(qs.order_by(sort, tie).defer("matches")[offset:offset + per_page]) if total else []
    return BanTable(rows=rows, total=total, page=page, per_page=per_page, num_pages=num_pages)


def _floor(dt: datetime, kind: str, size: timedelta) -> datetime:
    dt = dt.astimezone(UTC)
    if kind == "hour":
        step = int(size.total_seconds() // 3600)
        return dt.replace(hour=dt.hour - dt.hour % step, minute=0, second=0, microsecond=0)
    day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "week":  # ISO weeks start on Monday, as TruncWeek's do
        return day - timedelta(days=day.weekday())
    return day


_TRUNC = {"hour": TruncHour, "day": TruncDay, "week": TruncWeek}
# SQLite stores datetimes as UTC text ("YYYY-MM-DD HH:MM:SS[.ffffff]") and
# Django's Trunc there is a Python function called per row (7 s for a
# million rows). A prefix of the text is the hour or the day, and substr()
# is far cheaper than date()/strftime(), which parse every value. Weeks are
# grouped by day (at most 366 groups) and folded into weeks in Python.
_SQLITE_PREFIX = {"hour": 13, "day": 10, "week": 10}


def _bucket_expression(kind: str):
    if connection.vendor != "sqlite":
        return _TRUNC[kind]("banned_at", tzinfo=UTC)
    return Func(F("banned_at"), Value(1), Value(_SQLITE_PREFIX[kind]), function="substr",
                output_field=CharField())


def bans_over_time(window: str, jail: str | None = None, country: str | None = None,
                   origin: str | None = None, ip_query: str | None = None, *,
                   now: datetime | None = None) -> list[Bucket]:
    """Ban counts per bucket across the whole window, zero-filled: hourly
    for 24h, 6-hourly for 7d, daily for 30d, weekly (from Monday) for 365d.
    One grouped query; 6-hour buckets are folded from hourly groups."""
    kind, size = WINDOW_BUCKET[Window(window)]

    def compute() -> dict[datetime, int]:
        qs = events(window, jail=jail, country=country, origin=origin, ip_query=ip_query,
                    now=now)
        grouped = (qs.order_by().annotate(bucket=_bucket_expression(kind))
                   .values("bucket").annotate(n=Count("id")).values_list("bucket", "n"))
        counts: dict[datetime, int] = {}
        for bucket, n in grouped:
            if isinstance(bucket, str):  # SQLite: "YYYY-MM-DD[ HH]" text, in UTC
                bucket = datetime.fromisoformat(bucket).replace(tzinfo=UTC)
            key = _floor(bucket, kind, size)
            counts[key] = counts.get(key, 0) + n
        return counts

    counts = cached_aggregate("bans_over_time", window, now,
                              (jail, country, origin, ip_query), compute)
    now = now or timezone.now()
    first, last = _floor(window_start(window, now), kind, size), _floor(now, kind, size)
    buckets = []
    at = first
    while at <= last:
        buckets.append(Bucket(at, counts.get(at, 0)))
        at += size
    return buckets


def top_countries(window: str, limit: int | None = 10, jail: str | None = None,
                  origin: str | None = None, *, now: datetime | None = None
                  ) -> list[CountryCount]:
    """Countries by ban count (most first); unresolved IPs are left out.
    ``limit=None`` gives every country (the world map)."""
    def compute() -> list[CountryCount]:
        qs = (events(window, jail=jail, origin=origin, now=now)
              .filter(country_code__isnull=False)
              .order_by().values("country_code").annotate(n=Count("id"))
              .order_by("-n", "country_code").values_list("country_code", "n"))
        if limit is not None:
            qs = qs[:limit]
        return [CountryCount(code, n) for code, n in qs]

    return cached_aggregate("top_countries", window, now, (limit, jail, origin), compute)


def bans_by_jail(window: str, country: str | None = None, origin: str | None = None, *,
                 now: datetime | None = None) -> list[JailCount]:
    """Jails by ban count (most first)."""
    def compute() -> list[JailCount]:
        qs = (events(window, country=country, origin=origin, now=now).order_by()
              .values("jail").annotate(n=Count("id")).order_by("-n", "jail")
              .values_list("jail", "n"))
        return [JailCount(jail, n) for jail, n in qs]

    return cached_aggregate("bans_by_jail", window, now, (country, origin), compute)


def current_bans(jails: Iterable[str] | None = None,
                 client: Fail2banClient | None = None) -> dict[tuple[str, str], BanEntry]:
    """fail2ban's live bans keyed by (jail, ip), for "still banned / time
    left" columns. One socket call per jail; {} when fail2ban is down."""
    client = client or link.client()
    found: dict[tuple[str, str], BanEntry] = {}
    try:
        for jail in (list(jails) if jails is not None else client.jail_names()):
            for entry in client.banned_with_time(jail):
                found[(jail, entry.ip)] = entry
    except Fail2banError:
        return {}
    return found


def time_left(entry: BanEntry | None, now: datetime | None = None) -> timedelta | None:
    """Remaining ban time of a live ban; None when not banned or permanent."""
    if entry is None or entry.ends_at is None:
        return None
    return max(entry.ends_at - (now or timezone.now()), timedelta(0))
