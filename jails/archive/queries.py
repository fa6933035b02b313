"""What the dashboard shows, as plain query functions over the ban archive.

No views here: the dashboard views parse their input with forms and call
these. Each function costs a small, fixed number of SQL queries (the ban
table: one count, one page) whatever the window or page. Times are UTC.
Live state (still banned, time left) is fail2ban's: :mod:`jails.live.state`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.paginator import Page
from django.db import connection
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from bangui.paging import Counted, page_of
from bangui.requestmemo import once_per_request
from jails.archive import rollup
from jails.constants import (
    BAN_TABLE_MAX_PER_PAGE,
    BAN_TABLE_SORTS,
    UNKNOWN_COUNTRY,
    WINDOW_BUCKET,
    WINDOW_SPAN,
    Origin,
    Window,
)
from jails.models import BanEvent

FUTURE_SLACK = timedelta(seconds=2)

# Read-through cache of the long-window aggregates the daily rollup cannot
# answer (an IP search; jail and country filtered together; countries of
# one jail, jails of one country): those read every matching row of the
# window (hundreds of ms at a million bans). A design rule (docs/architecture.md):
# process-local memory is only a read-through cache of the database. What
# the rollup answers (every unfiltered chart, the map) is not cached here:
# it costs milliseconds; only its past whole days' sums are kept a minute
# (``rollup.DAYS_CACHE_SECONDS``) and today is always read. Only calls
# without an explicit ``now`` (the views') are cached; the ban table's
# rows never are.
AGGREGATE_CACHE_SECONDS = 60
AGGREGATE_CACHE_MIN_SPAN = timedelta(days=7)
_CACHE_PREFIX = "bangui:archive-aggregate:"


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


KIND_PERMANENT, KIND_RANGE = "permanent", "range"  # the ban table's "kind" filter


def cached_aggregate(name: str, window: str, now: datetime | None, key: tuple, compute, *,
                     group: str | None = None, jail: str | None = None,
                     country: str | None = None, ip_query: str | None = None,
                         kind: str | None = None,
                     node: str | None = None):
    """``compute()``, or its result from the last ``AGGREGATE_CACHE_SECONDS``
    when the window is long (>= 7 days), ``now`` is not given and the
    rollup cannot answer (``group`` and the filters say). ``key``: the
    filters (anything with a stable ``repr``). The value must pickle."""
    if (now is not None or WINDOW_SPAN[Window(window)] < AGGREGATE_CACHE_MIN_SPAN
            or rollup.answers(group, jail=jail, country=country, ip_query=ip_query or kind,
                              node=node)):
        return compute()
    return rollup.remembered(_CACHE_PREFIX, (name, str(window), key), compute,
                             AGGREGATE_CACHE_SECONDS)


def request_now() -> datetime:
    """The views' "now": one instant per request, so a page's figures,
    chart and table count the same bans (and their counts of the
    archive's newest rows are one query: rollup._archive_counts)."""
    return once_per_request("archive.now", timezone.now)


def window_start(window: str, now: datetime | None = None) -> datetime:
    return (now or request_now()) - WINDOW_SPAN[Window(window)]


def events(window: str, *, jail: str | None = None, country: str | None = None,
           origin: str | None = None, ip_query: str | None = None, kind: str | None = None,
           node: str | None = None, now: datetime | None = None) -> QuerySet[BanEvent]:
    """Archive rows in the window, filtered. ``country`` is an ISO code or
    ``"unknown"``; ``ip_query`` an exact address, or else an address prefix
    (``"192.0.2."``, ``"2001:db8:"``)."""
    now = now or request_now()
    qs = filtered(jail=jail, country=country, origin=origin, ip_query=ip_query, kind=kind,
                  node=node)
    start, end = window_start(window, now), window_end(now)
    if connection.vendor == "sqlite" and _is_prefix_search(ip_query):
        # Without column statistics for ranges, SQLite weighs the year's
        # banned_at range against the IP prefix range as equals and may
        # read the whole window (0.6 s at a million bans for a prefix with
        # 56 matches). Through an expression only the (ip, banned_at)
        # index is left to it.
        return qs.alias(at=Coalesce(F("banned_at"), F("banned_at"))).filter(
            at__gte=start, at__lte=end)
    return qs.filter(banned_at__gte=start, banned_at__lte=end)


def _is_prefix_search(ip_query: str | None) -> bool:
    if not ip_query or not ip_query.strip():
        return False
    try:
        ipaddress.ip_address(ip_query.strip())
    except ValueError:
        return True
    return False


def window_end(now: datetime) -> datetime:
    # fail2ban stores a ban's start rounded to the second, so a ban made a
    # moment ago may carry a time up to half a second ahead of now.
    return now + FUTURE_SLACK


def filtered(*, jail: str | None = None, country: str | None = None,
             origin: str | None = None, ip_query: str | None = None, kind: str | None = None,
             node: str | None = None) -> QuerySet[BanEvent]:
    """Archive rows matching the filters, at any time (see :func:`events`).
    ``node``: one fleet node's rows (None: every node's)."""
    qs = BanEvent.objects.all()
    if node:
        qs = qs.filter(node=node)
    if jail:
        qs = qs.filter(jail=jail)
    if country:
        if country.lower() == UNKNOWN_COUNTRY:
            qs = qs.filter(country_code__isnull=True)
        else:
            qs = qs.filter(country_code=country.upper())
    if origin:
        qs = qs.filter(origin=Origin(origin))
    if kind == KIND_PERMANENT:  # bantime -1 (docs/archive.md, "Network and permanent bans")
        qs = qs.filter(bantime__lt=0)
    elif kind == KIND_RANGE:  # a banned network: "203.0.113.0/24"
        qs = qs.filter(ip__contains="/")
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


def window_counts(window: str, group: str | None, *, jail: str | None = None,
                  country: str | None = None, origin: str | None = None,
                  ip_query: str | None = None, kind: str | None = None, node: str | None = None,
                  now: datetime | None = None,
                  cache_days: bool | None = None) -> dict:
    """Bans in the window keyed by ``group`` (see :func:`jails.archive.rollup.counts`):
    whole days from the daily rollup, the rest from the archive. An IP
    search cannot use the rollup: it counts the archive. Without ``now``
    (the views), the whole days' sums may come from the last minute
    (``rollup.DAYS_CACHE_SECONDS``; ``cache_days`` overrides); today's
    bans are always read."""
    base = filtered(jail=jail, country=country, origin=origin, ip_query=ip_query, kind=kind,
                    node=node)
    at = now or request_now()
    start, end = window_start(window, at), window_end(at)
    if (ip_query and ip_query.strip()) or kind:  # the rollup counts neither
        windowed = events(window, jail=jail, country=country, origin=origin,
                          ip_query=ip_query, kind=kind, node=node, now=at)
        return rollup.count_rows(windowed, group)
    return rollup.counts(base, start, end, group, jail=jail, country=country, origin=origin,
                         node=node, cache_days=now is None if cache_days is None else cache_days)


def ban_table(window: str, jail: str | None = None, country: str | None = None,
              origin: str | None = None, ip_query: str | None = None, kind: str | None = None,
              sort: str = "-banned_at", page: int = 1, per_page: int = 50, *,
              node: str | None = None, now: datetime | None = None) -> Page:
    """One page of bans (a Django ``Page``), newest first by default. The
    total from :func:`window_counts` (one or two queries), then the page's
    rows. A page past the end shows the last page."""
    field = sort.removeprefix("-")
    if field not in BAN_TABLE_SORTS:
        raise ValueError(f"cannot sort by {sort!r}; use one of {', '.join(BAN_TABLE_SORTS)}")
    if field == "ip":  # numerically, IPv4 and IPv6 alike (BanEvent.ip_key)
        field = "ip_key"
        sort = sort.replace("ip", "ip_key")
    per_page = max(1, min(int(per_page), BAN_TABLE_MAX_PER_PAGE))
    at = now or request_now()  # one instant for the total and the page
    total = window_counts(window, None, jail=jail, country=country, origin=origin,
                          ip_query=ip_query, kind=kind, node=node, now=at,
                              cache_days=now is None)[None]
    qs = events(window, jail=jail, country=country, origin=origin, ip_query=ip_query, kind=kind,
                node=node, now=at)
    descending = sort.startswith("-")
    tie = "-id" if descending else "id"
    order = sort
    if ip_query and ip_query.strip():
        # Sort by an expression, not the column: given ORDER BY banned_at
        # LIMIT 50, both databases walk the banned_at index backwards and
        # test every ban of the window against the IP (a second at a
        # million rows); the (ip, banned_at) index finds the few matches,
        # and sorting those is cheap.
        expression = Coalesce(F(field), F(field))
        order = expression.desc() if descending else expression.asc()
    rows = qs.order_by(order, tie).defer("matches")
    return page_of(Counted(total, lambda offset, limit: list(rows[offset:offset + limit])),
                   page, per_page)


def _floor(dt: datetime, kind: str, size: timedelta) -> datetime:
    dt = dt.astimezone(UTC)
    if kind == "hour":
        step = int(size.total_seconds() // 3600)
        return dt.replace(hour=dt.hour - dt.hour % step, minute=0, second=0, microsecond=0)
    day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "week":  # ISO weeks start on Monday, as TruncWeek's do
        return day - timedelta(days=day.weekday())
    return day


def bans_over_time(window: str, jail: str | None = None, country: str | None = None,
                   origin: str | None = None, ip_query: str | None = None,
                       kind: str | None = None, *,
                   node: str | None = None, now: datetime | None = None) -> list[Bucket]:
    """Ban counts per bucket across the whole window, zero-filled: hourly
    for 24h, 6-hourly for 7d, daily for 30d, weekly (from Monday) for 365d.
    Hours: :func:`window_counts` by hour (6-hour buckets are folded from
    hourly groups); days and weeks: by day, folded."""
    # the bucket's unit: not ``kind``, the table's filter (a shadowed ``kind``
    # dropped that filter from the chart and sent every window to the archive)
    unit, size = WINDOW_BUCKET[Window(window)]

    def compute() -> dict[datetime, int]:
        if unit in ("day", "week"):
            by_day = window_counts(window, "day", jail=jail, country=country, origin=origin,
                                   ip_query=ip_query, kind=kind, node=node, now=now)
            found = {datetime(d.year, d.month, d.day, tzinfo=UTC): n for d, n in by_day.items()}
        else:  # hours: not in the rollup; the archive's settled hours cached a minute
            found = window_counts(window, "hour", jail=jail, country=country, origin=origin,
                                  ip_query=ip_query, kind=kind, node=node, now=now)
        counts: dict[datetime, int] = {}
        for bucket, n in found.items():
            key = _floor(bucket, unit, size)
            counts[key] = counts.get(key, 0) + n
        return counts

    counts = cached_aggregate("bans_over_time", window, now,
                              (jail, country, origin, ip_query, kind, node), compute,
                              group="day" if unit in ("day", "week") else "hour",
                              jail=jail, country=country, ip_query=ip_query, kind=kind, node=node)
    now = now or request_now()
    first, last = _floor(window_start(window, now), unit, size), _floor(now, unit, size)
    buckets = []
    at = first
    while at <= last:
        buckets.append(Bucket(at, counts.get(at, 0)))
        at += size
    return buckets


def top_countries(window: str, limit: int | None = 10, jail: str | None = None,
                  origin: str | None = None, ip_query: str | None = None,
                  kind: str | None = None, *, node: str | None = None,
                  now: datetime | None = None) -> list[CountryCount]:
    """Countries by ban count (most first); unresolved IPs are left out.
    ``limit=None`` gives every country (the world map)."""
    def compute() -> list[CountryCount]:
        found = window_counts(window, "country_code", jail=jail, origin=origin,
                              ip_query=ip_query, kind=kind, node=node, now=now)
        ranked = sorted(((code, n) for code, n in found.items() if code and n),
                        key=lambda item: (-item[1], item[0]))
        return [CountryCount(code, n) for code, n in ranked[:limit]]

    return cached_aggregate("top_countries", window, now,
                            (limit, jail, origin, ip_query, kind, node), compute,
                            group="country_code", jail=jail, ip_query=ip_query, kind=kind,
                            node=node)


def bans_by_jail(window: str, country: str | None = None, origin: str | None = None,
                 ip_query: str | None = None, kind: str | None = None, *, node: str | None = None,
                 now: datetime | None = None) -> list[JailCount]:
    """Jails by ban count (most first)."""
    def compute() -> list[JailCount]:
        found = window_counts(window, "jail", country=country, origin=origin,
                              ip_query=ip_query, kind=kind, node=node, now=now)
        ranked = sorted(((jail, n) for jail, n in found.items() if n),
                        key=lambda item: (-item[1], item[0]))
        return [JailCount(jail, n) for jail, n in ranked]

    return cached_aggregate("bans_by_jail", window, now, (country, origin, ip_query, kind, node),
                            compute,
                            group="jail", country=country, ip_query=ip_query, kind=kind, node=node)


@dataclass(frozen=True)
class Summary:
    """The figures above the dashboard's chart: bans in the window and in
    the window before it, and distinct IPs where that is cheap."""

    total: int
    previous: int
    distinct_ips: int | None  # None: not counted for windows over 7 days

    @property
    def change(self) -> float | None:
        """Relative change against the previous window (None: nothing before)."""
        if not self.previous:
            return None
        return (self.total - self.previous) / self.previous


DISTINCT_IPS_MAX_SPAN = timedelta(days=7)
DISTINCT_IPS_CACHE_ABOVE = 10_000  # bans in the window


def summary(window: str, *, jail: str | None = None, country: str | None = None,
            origin: str | None = None, ip_query: str | None = None, kind: str | None = None,
            node: str | None = None, now: datetime | None = None,
            total: int | None = None) -> Summary:
    """Two counts (the rollup answers long windows; ``total`` when the
    caller counted the window already, as the ban table does) and, up to
    7 days, one distinct count of the window's IPs. Distinct IPs do not add
    up day by day, so a year's would read every ban of the year."""
    at = now or request_now()
    span = WINDOW_SPAN[Window(window)]
    if total is None:
        total = window_counts(window, None, jail=jail, country=country, origin=origin,
                              ip_query=ip_query, kind=kind, node=node, now=now)[None]
    before = at - span
    if (ip_query and ip_query.strip()) or kind:
        previous = (filtered(jail=jail, country=country, origin=origin, ip_query=ip_query,
                             kind=kind,
                             node=node)
                    .filter(banned_at__gte=before - span, banned_at__lt=before).count())
    else:
        previous = rollup.counts(
            filtered(jail=jail, country=country, origin=origin, node=node), before - span,
            before - timedelta(microseconds=1), None, jail=jail, country=country,
            origin=origin, node=node, cache_days=now is None)[None]
    distinct = None
    if span <= DISTINCT_IPS_MAX_SPAN:
        def count_distinct() -> int:
            return (events(window, jail=jail, country=country, origin=origin,
                           ip_query=ip_query, kind=kind, node=node, now=at)
                    .order_by().values("ip").distinct().count())

        if now is None and total > DISTINCT_IPS_CACHE_ABOVE:
            # Tens of thousands of bans in a day (a fleet): their distinct
            # count costs more than the rest of the page; a minute old is
            # fine for this figure. Smaller windows stay exact.
            distinct = rollup.remembered(
                _CACHE_PREFIX, ("distinct", str(window), jail, country, origin, ip_query, kind,
                                node),
                count_distinct, AGGREGATE_CACHE_SECONDS)
        else:
            distinct = count_distinct()
    return Summary(total, previous, distinct)


NEW_BANS_MAX = 1000  # "1,000+ new bans": the poll never counts more


def newer_than(since: datetime, window: str, *, jail: str | None = None,
               country: str | None = None, origin: str | None = None,
               ip_query: str | None = None, kind: str | None = None,
                   node: str | None = None) -> int:
    """Bans matching the filters that started after ``since`` (rows the
    table did not show yet), at most NEW_BANS_MAX: a short ``banned_at``
    range at the index's end."""
    start = max(since, window_start(window))
    qs = filtered(jail=jail, country=country, origin=origin, ip_query=ip_query, kind=kind,
                  node=node).filter(
        banned_at__gt=start)
    return len(qs.order_by().values_list("pk", flat=True)[:NEW_BANS_MAX])
