"""Filters for ban tables: country flags (SVG) and names, ban durations, times."""

from __future__ import annotations

import functools
import html
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma, naturaltime
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from geo.countries import country_name as _country_name
from jails.constants import Origin

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
    return _time_html(value, timezone.get_current_timezone())


def _time_html(value, zone) -> str:
    """:func:`time_element` in ``zone``. Built as a string: the ISO time and
    the tooltip's digits need no escaping, and ``format_html``'s lazy-aware
    escaping was a third of the call."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    return mark_safe(  # noqa: S308 (digits, and the two texts escaped)
        f'<time datetime="{local.isoformat()}" title="{local:%Y-%m-%d %H:%M:%S} '
        f'{_esc(local.tzname() or "")}">{_esc(naturaltime(value))}</time>')


def _esc(value) -> str:
    """``conditional_escape`` without its lazy-string wrapper (the same
    escaping: ``html.escape``), for the hot paths below."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


@register.filter
def time_left_element(ends_at):
    """``<time>`` for a live ban's end: "59m left", the exact local end as
    its tooltip. One call per cell (``timeuntil`` and a localized datetime
    were most of a 50-row banned list's render time)."""
    if ends_at is None:
        return ""
    return _time_left_html(ends_at, timezone.get_current_timezone(), timezone.now())


def _time_left_html(ends_at, zone, now) -> str:
    """:func:`time_left_element` in ``zone`` at ``now``, built as a string
    like :func:`_time_html` (``format_html`` was most of the call)."""
    local = ends_at.astimezone(zone)
    left = max(0, int((ends_at - now).total_seconds()))
    return mark_safe(  # noqa: S308 (digits, and the zone's name escaped)
        f'<time datetime="{local.isoformat()}" title="until {local:%Y-%m-%d %H:%M:%S} '
        f'{_esc(local.tzname() or "")}">{duration(left)} left</time>')


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


# --- the dashboard's ban rows, in one call (issue #29) ---------------------------------
# Fifty rows of ~30 template variables, a url tag, two time filters and up to
# three forms each were half of a dashboard render (0.2 ms a row); written
# here they cost a tenth of that. The markup is the one the template had
# (jails/tests/test_render_cost.py renders both and compares them).
_LIFTED_TITLE = ("fail2ban no longer holds this ban though its time had not run out: "
                 "unbanned with fail2ban-client, or its jail was stopped or restarted "
                 "without it")
_REPLACED_TITLE = "fail2ban holds a later ban of this IP in this jail"


def _now_cell(now: dict) -> str:
    state = now.get("state")
    if state == "banned":
        left = "permanent" if now.get("permanent") else f"{duration(now.get('left'))} left"
        return f'<span class="badge badge-bad">banned</span> {left}\n'
    if state == "unbanned":
        by = now.get("by")
        return '<span class="badge">unbanned</span>' + (
            f' <span class="muted">by {_esc(by)}</span>' if by else "") + "\n"
    if state == "expired":
        return '<span class="badge">expired</span>\n'
    if state == "lifted":
        return (f'<span class="badge" title="{_LIFTED_TITLE}">lifted</span> '
                '<span class="muted">outside BanGUI</span>\n')
    if state == "replaced":
        return (f'<span class="badge" title="{_REPLACED_TITLE}">ended</span> '
                '<span class="muted">banned again</span>\n')
    why = now.get("why")
    title = f' title="{_esc(why)}"' if why else ""
    return f'<span class="muted"{title}>unknown</span>'


def _row_form(action: str, confirm: str, ip: str, jail: str, node: str, csrf: str,
              button: str, extra: str = "") -> str:
    on = f' on {node}' if node else ""
    node_input = f'<input type="hidden" name="node" value="{node}">' if node else ""
    return (f'\n<form method="post" action="{action}" hx-post="{action}" hx-push-url="false" '
            f'hx-confirm="{confirm}?">{csrf}\n'
            f'<input type="hidden" name="ip" value="{ip}"><input type="hidden" name="jail" '
            f'value="{jail}">{node_input}\n'
            f'<button type="submit" class="link"{extra}>{button}{on if not extra else ""} '
            '<span class="spinner" aria-hidden="true"></span></button></form>\n')


def ban_row(row, now: dict, *, multi_node: bool, can_operate: bool, unban_url: str,
            ban_url: str, csrf: str, ip_url: str, zone=None) -> str:
    """One ``<tr>`` of the dashboard's ban table (``row`` a BanEvent, ``now``
    its "Now" cell: jails.views.dashboard.live_state)."""
    esc = _esc
    ip, jail = esc(row.ip), esc(row.jail)
    country = (f'<span aria-hidden="true">{flag(row.country_code)}</span> '
               f'{esc(country_name(row.country_code))}' if row.country_code
               else '<span class="muted">unknown</span>')
    shared = f' <span class="muted">from {esc(row.shared_from)}</span>' if row.shared_from else ""
    zone = zone or timezone.get_current_timezone()
    until = "permanent" if row.bantime < 0 else _time_html(row.ends_at, zone)
    out = [
        f'<tr data-ip="{ip}" data-jail="{jail}">\n'
        f"<td>{_time_html(row.banned_at, zone)}</td>\n"
        f'<td><a class="ip" href="{esc(ip_url.replace(_IP_MARK, quote(row.ip, safe=_IP_SAFE)))}">'
        f"{ip}</a></td>\n<td>{jail}</td>\n",
        f'<td class="col-node">{esc(row.node)}</td>\n' if multi_node else "",
        f'<td class="col-country">{country}</td>\n'
        f'<td class="col-origin"><span class="badge badge-origin-{esc(row.origin)}">'
        f"{esc(_ORIGINS.get(row.origin, row.origin))}</span>{shared}</td>\n"
        f'<td class="col-bans num">{_thousands(row.ban_count)}</td>\n'
        f'<td class="col-until" data-testid="until">{until}</td>\n'
        f'<td data-testid="now">{_now_cell(now)}</td>\n',
    ]
    if can_operate:
        node = esc(now.get("node") or "")
        on = f" on {node}" if node else ""
        state, running = now.get("state"), now.get("jail_running")
        out.append('<td class="row-actions">')
        if state == "banned":
            out.append(_row_form(esc(unban_url), f"Unban {ip} from {jail}{on}", ip, jail, node,
                                 csrf, "Unban"))
        elif state != "unknown" and running:
            out.append(_row_form(esc(ban_url), f"Ban {ip} in {jail}{on} again", ip, jail, node,
                                 csrf, "Ban again"))
        net64 = now.get("net64")
        if net64 and state != "unknown" and running:
            net = esc(net64)
            out.append(_row_form(
                esc(ban_url), f"Ban the whole network {net} in {jail}{on}", net, jail, node, csrf,
                "Ban its /64", f' data-testid="ban-64" title="Ban {net}"'))
        out.append("</td>")
    out.append("\n</tr>\n")
    return "".join(out)


_ORIGINS = dict(Origin.choices)  # get_origin_display() without its per-call hashing
_IP_MARK = "0.0.0.0"  # noqa: S104 (a placeholder in a reversed URL, not a bind address)
_IP_SAFE = "!$&'()*+,;=/~:@"  # what django.urls.reverse leaves unquoted in a path argument


def _thousands(value) -> str:
    """``intcomma`` for an int ("1,234"), without its localisation machinery."""
    return f"{value:,}" if isinstance(value, int) else esc_str(value)


def esc_str(value) -> str:
    return _esc(intcomma(value))


@register.simple_tag(takes_context=True)
def ban_rows(context, rows) -> str:
    """Every ``<tr>`` of the dashboard's ban table: ``rows`` is the view's
    list of (BanEvent, "Now" cell)."""
    csrf = str(csrf_input(context.get("csrf_token")))
    ip_url = reverse("ip_detail", args=[_IP_MARK])
    options = {"multi_node": context.get("multi_node"), "can_operate": context.get("can_operate"),
               "unban_url": context.get("unban_url", ""), "ban_url": context.get("ban_url", ""),
               "csrf": csrf, "ip_url": ip_url, "zone": timezone.get_current_timezone()}
    return mark_safe("".join(ban_row(row, now, **options)  # noqa: S308 (escaped above)
                             for row, now in rows))


@register.simple_tag(takes_context=True)
def live_ban_rows(context, rows) -> str:
    """Every ``<tr>`` of a live-bans table (jails/partials/live_bans.html:
    a jail page's, or a node page's ``with_jail``), in one call (#29: the
    template's ~30 lookups, a url tag and two filters per row were most of
    the jail page's render). ``rows``: BanEntry or LiveBan objects."""
    esc, zone, now = _esc, timezone.get_current_timezone(), timezone.now()
    with_jail, name = context.get("with_jail"), context.get("name") or ""
    ip_url = reverse("ip_detail", args=[_IP_MARK])
    form = ""
    if context.get("perms") and context["perms"]["accounts"]["ban"]:
        target, unban_url = esc(context.get("target") or ""), esc(context.get("unban_url") or "")
        select = f' hx-select="{target}"' if context.get("select") else ""
        form = (f'<td><form method="post" action="{unban_url}" hx-post="{unban_url}" '
                f'hx-target="{target}"{select} hx-swap="outerHTML" hx-confirm="Unban \0ip\0 from '
                f'\0jail\0{esc(context.get("where") or "")}?">'
                f'{csrf_input(context.get("csrf_token"))}<input type="hidden" name="ip" '
                'value="\0ip\0"><input type="hidden" name="jail" value="\0jail\0"><button '
                'type="submit" class="link">Unban <span class="spinner" aria-hidden="true">'
                "</span></button></form></td>")
    out = []
    for ban in rows:
        ip, jail = esc(ban.ip), esc(getattr(ban, "jail", "") or name)
        if getattr(ban, "permanent", False):
            left = "permanent"
        elif ban.ends_at:
            left = _time_left_html(ban.ends_at, zone, now)
        else:
            left = "permanent" if with_jail else "—"
        count = "—" if ban.bancount is None else _thousands(ban.bancount)
        href = esc(ip_url.replace(_IP_MARK, quote(ban.ip, safe=_IP_SAFE)))
        action = form.replace("\0ip\0", ip).replace("\0jail\0", jail)
        out.append(
            f'<tr><td class="ip"><a href="{href}">{ip}</a></td>'
            f"{f'<td>{jail}</td>' if with_jail else ''}"
            f"<td>{_time_html(ban.banned_at, zone)}</td><td>{left}</td>"
            f'<td class="num">{count}</td>{action}</tr>')
    return mark_safe("".join(out))  # noqa: S308 (every text escaped above)


def csrf_input(token) -> str:
    """What ``{% csrf_token %}`` writes (nothing without a token)."""
    if not token or token == "NOTPROVIDED":  # noqa: S105 (Django's marker, not a password)
        return ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)


# --- the world map's country shapes, in one call (issue #29) ----------------------------
# ~180 shapes of two url tags, two intcomma and two pluralize filters each
# were most of the map page's render; the markup is the template's
# (jails/tests/test_render_cost.py compares them).
@register.simple_tag
def map_shapes(shapes, query: str) -> str:
    """Every country of the world map: a link to its bans when it has
    some, a plain shape otherwise. ``shapes``: jails.archive.map_data's
    ``MapCountry`` tuple; ``query``: the filters the links keep."""
    base = f"{_esc(reverse('world_map'))}?{_esc(query)}&amp;country="
    out = []
    for c in shapes:
        code, name, d = _esc(c.code), _esc(c.name), _esc(c.d)
        if c.bans:
            text = f"{name}: {c.bans:,} ban{'' if c.bans == 1 else 's'}"
            out.append(f'<a href="{base}{code}" hx-get="{base}{code}" data-country="{code}" '
                       f'aria-label="{text}"><path class="map-c{c.band}" d="{d}"><title>{text}'
                       "</title></path></a>\n        ")
        else:
            out.append(f'<path class="map-c0" data-country="{code}" d="{d}"><title>{name}: '
                       "no bans</title></path>\n        ")
    return mark_safe("".join(out))  # noqa: S308 (every value escaped above)
