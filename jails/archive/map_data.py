"""What the world map shows: bans per country in a window, colour classes,
on the country shapes of :mod:`geo.shapes`. Plain functions; the view parses input and calls
:func:`world_map`.

The counts come from the daily rollup for the whole days of the window and
from the ban archive for its partial edge days
(``jails.archive.queries.window_counts``, the dashboard's own, so the map and the
dashboard agree on what "the last 7 days" means). Nothing here
writes. Distinct addresses per country are not shown: they do not add up
day by day, and counting them means reading every ban of the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from geo.countries import country_name
from geo.shapes import shapes
from jails.archive.queries import window_counts
from jails.constants import UNKNOWN_COUNTRY

CLASSES = 5  # colour classes besides "no bans"; CSS has .map-c0 … .map-c5
TOP_COUNTRIES = 15  # rows of the side table


@dataclass(frozen=True)
class CountryBans:
    """Bans from one country; ``code`` None means the addresses are not
    resolved (yet)."""

    code: str | None
    bans: int
    band: int = 0  # colour class, set by world_map

    @property
    def name(self) -> str:
        if self.code is None:
            return "Unknown"
        return country_name(self.code) or self.code

    @property
    def param(self) -> str:
        """The ``?country=`` value that selects this row."""
        return self.code or UNKNOWN_COUNTRY


@dataclass(frozen=True)
class Band:
    """One colour class: counts from ``low`` to ``high`` inclusive."""

    index: int
    low: int
    high: int

    @property
    def label(self) -> str:
        return f"{self.low:,}" if self.low == self.high else f"{self.low:,}\u2013{self.high:,}"


@dataclass(frozen=True)
class MapCountry:
    """A country shape with its numbers and colour class (0: no bans)."""

    code: str
    name: str
    d: str
    bans: int
    band: int


@dataclass(frozen=True)
class WorldMap:
    shapes: tuple[MapCountry, ...]
    view_box: str
    bands: tuple[Band, ...]
    top: tuple[CountryBans, ...]  # known countries, most bans first
    more: int  # known countries with bans beyond ``top``
    unknown: CountryBans | None
    total_bans: int
    countries_with_bans: int
    unmapped: tuple[CountryBans, ...]  # codes with bans but no shape (tiny or unusual)


def bans_by_country(window: str, origin: str | None = None, *, node: str | None = None,
                    now: datetime | None = None) -> list[CountryBans]:
    """Bans per country code (None: unresolved), most bans first. Two
    grouped queries, the rollup's whole days and the archive's edge days
    (cost: docs/geo.md, "World map"); today's bans show at once (the whole
    days' sums may be a minute old, ``jails.archive.rollup.DAYS_CACHE_SECONDS``)."""
    found = window_counts(window, "country_code", origin=origin, node=node, now=now)
    totals: dict[str | None, int] = {}
    for code, bans in found.items():  # merge "de" into "DE", should a source store lowercase
        key = code.upper() if code else None
        totals[key] = totals.get(key, 0) + bans
    out = [CountryBans(code, bans) for code, bans in totals.items() if bans]
    out.sort(key=lambda c: (-c.bans, c.code or "~"))
    return out


def _nice(value: float) -> int:
    """Round up to 1, 2 or 5 times a power of ten (legend-friendly bounds)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return int(step * power)
    return int(10 * power)  # pragma: no cover (unreachable)


def bands(highest: int, classes: int = CLASSES) -> tuple[Band, ...]:
    """Log-scale colour classes covering 1..``highest``: ban counts per
    country span orders of magnitude, so equal-width classes would paint one
    country dark and every other one pale. Upper bounds are nice numbers
    (``1-2, 3-10, 11-50, ...``); the last class ends at ``highest``."""
    if highest < 1:
        return ()
    uppers: list[int] = []
    for i in range(1, classes):
        bound = _nice(highest ** (i / classes))
        if bound < highest and (not uppers or bound > uppers[-1]):
            uppers.append(bound)
    uppers.append(highest)
    out, low = [], 1
    for index, high in enumerate(uppers, start=1):
        out.append(Band(index, low, high))
        low = high + 1
    return tuple(out)


def band_of(count: int, classes: tuple[Band, ...]) -> int:
    if count < 1:
        return 0
    for band in classes:
        if count <= band.high:
            return band.index
    return classes[-1].index if classes else 0


def world_map(window: str, origin: str | None = None, *, node: str | None = None,
              now: datetime | None = None) -> WorldMap:
    """Everything the map page shows for a window, origin and node filter."""
    counts = bans_by_country(window, origin, node=node, now=now)
    known = [c for c in counts if c.code]
    unknown = next((c for c in counts if c.code is None), None)
    classes = bands(max((c.bans for c in known), default=0))
    by_code = {c.code: c for c in known}
    geometry = shapes()
    mapped = []
    for shape in geometry.countries:
        stats = by_code.get(shape.code)
        bans = stats.bans if stats else 0
        mapped.append(MapCountry(code=shape.code, name=country_name(shape.code) or shape.code,
                                 d=shape.d, bans=bans, band=band_of(bans, classes)))
    shape_codes = {s.code for s in geometry.countries}
    return WorldMap(
        shapes=tuple(mapped),
        view_box=geometry.view_box,
        bands=classes,
        top=tuple(replace(c, band=band_of(c.bans, classes)) for c in known[:TOP_COUNTRIES]),
        more=max(0, len(known) - TOP_COUNTRIES),
        unknown=unknown,
        total_bans=sum(c.bans for c in counts),
        countries_with_bans=len(known),
        unmapped=tuple(c for c in known if c.code not in shape_codes),
    )
