"""Filters for ban tables: country flags (SVG) and names, ban durations, times."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html

from geo.countries import country_name as _country_name

register = template.Library()

# SVG flags vendored from the MIT-licensed flag-icons package (static/flags/,
# its LICENSE beside them): emoji flags are empty boxes on Debian without an
# emoji font and two letters on Windows.
@functools.cache
def _flags() -> frozenset[str]:
    """The codes with a flag file, wherever the static files are (the
    source tree's static/ or an installed bangui/static)."""
    found = finders.find("flags")
    return frozenset(p.stem.upper() for p in Path(found).glob("??.svg")) if found else frozenset()


@register.filter
def flag(code: str | None) -> str:
    """A small flag image for an ISO 3166-1 alpha-2 code ("" for anything
    else); decorative: the country's name is always written beside it."""
    if not code or len(code) != 2 or code.upper() not in _flags():
        return ""
    return _flag_html(code.lower())


@functools.lru_cache(maxsize=512)
def _flag_html(code: str) -> str:
    # static() asks the storage (a manifest lookup): once per code and process.
    return format_html('<img class="flag" src="{}" alt="" width="16" height="12" '
                       'loading="lazy">', static(f"flags/{code}.svg"))


@register.filter
def country_name(code: str | None) -> str:
    if not code:
        return "unknown"
    return _country_name(code) or code.upper()


@register.filter
def duration(value: int | float | timedelta | None) -> str:
    """Seconds (or a timedelta) as "2d 3h", "14m", "45s"; -1 is "permanent"."""
    if value is None:
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 0:
        return "permanent"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    if not parts:
        return f"{seconds}s"
    return " ".join(parts)


@register.filter
def time_element(value):
    """``<time>`` for a ban time: "3 hours ago", the exact local time as its
    tooltip, ISO 8601 for machines. One Python call per cell instead of two
    ``date`` filters and ``naturaltime`` (those were a quarter of a 50-row
    ban table's render time)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html('<time datetime="{}" title="{} {}">{}</time>', local.isoformat(),
                       local.strftime("%Y-%m-%d %H:%M:%S"), local.tzname() or "",
                       naturaltime(value))


@register.filter
def time_left_element(ends_at):
    """``<time>`` for a live ban's end: "59m left", the exact local end as
    its tooltip. One call per cell (``timeuntil`` and a localized datetime
    were most of a 50-row banned list's render time)."""
    if ends_at is None:
        return ""
    local = timezone.localtime(ends_at)
    left = max(0, int((ends_at - timezone.now()).total_seconds()))
    return format_html('<time datetime="{}" title="until {} {}">{} left</time>', local.isoformat(),
                       local.strftime("%Y-%m-%d %H:%M:%S"), local.tzname() or "", duration(left))


@register.filter
def percent(value) -> str:
    """0.25 -> "25 %"; rounds to whole percent."""
    try:
        return f"{float(value) * 100:.0f} %"
    except (TypeError, ValueError):
        return ""


@register.filter
def line_numbers(text) -> str:
    """"1\\n2\\n…" for every line of ``text`` (the editor's gutter)."""
    count = max(1, (str(text or "")).count("\n") + 1)
    return "\n".join(str(n) for n in range(1, count + 1))
