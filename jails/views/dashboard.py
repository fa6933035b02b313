"""The dashboard: ban table, charts, manual ban; ban/unban from the table.

One URL serves the page and its ``ban-table`` fragment; every filter lives in
the query string (shareable, back button). A page render asks fail2ban for
its running jails and the live bans of the IPs on the page, once
(:mod:`jails.live.state`); a dead fail2ban makes the live columns say "unknown"
instead of failing the page.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ban_or_unban
from bangui.htmx import render_page, wants_fragment
from jails.archive import charts
from jails.archive import queries as queries
from jails.archive import sync as archive
from jails.constants import (
    WINDOW_BUCKET,
    Origin,
    Window,
)
from jails.fleet import live as fleet_live
from jails.forms.bans import PERMANENT_JAIL, ManualBanForm, UnbanForm
from jails.forms.dashboard import KIND_CHOICES, PER_PAGE_CHOICES, BanTableFilterForm
from jails.live import state as live_bans
from jails.live import status
from jails.models import BanEvent
from jails.templatetags.bans import country_name
from jails.views import results
from jails.views.results import Result, refused, respond
from nodes import fleet

# Ban-table columns: (header, sort field or None, numeric).
COLUMNS = (
    ("Time", "banned_at", False), ("IP", "ip", False), ("Jail", "jail", False),
    ("Country", "country_code", False), ("Origin", "origin", False),
    ("Bans", "ban_count", True), ("Until", None, False), ("Now", None, False),
)
# How bucket starts are labelled per window (local time).
BUCKET_FORMAT = {Window.DAY: "%H:%M", Window.WEEK: "%a %H:%M", Window.MONTH: "%b %d",
                 Window.YEAR: "%b %d"}


# --- fail2ban's live state ----------------------------------------------------------------
def live_state(row: BanEvent, live: live_bans.LiveState,
               others: dict[str, live_bans.LiveState], now: datetime) -> dict:
    """The "Now" cell of one archive row: this host's fail2ban (``live``)
    for its rows, what another node last published (``others``, by node:
    jails/fleet/live.py) for that node's. ``node`` is set for another
    node's row (its buttons go to that node); ``jail_running`` says whether
    "Ban again" can go to that jail."""
    here = row.node == settings.BANGUI_NODE
    state = live if here else others.get(row.node) or live_bans.LiveState(False)
    cell = state.row_state(row.jail, row.ip, row.banned_at, row.bantime, row.unbanned_at,
                           row.unbanned_by, now)
    return {**cell, "node": None if here else row.node, "jail_running": row.jail in state.jails,
            # an IPv6 address's /64, offered to ban from its row (one host's usual share)
            "net64": (str(ipaddress.ip_network(f"{row.ip}/64", strict=False))
                      if ":" in row.ip and not row.is_range else "")}


# --- the page --------------------------------------------------------------------------
def banned_now(server, node: str, multi_node: bool) -> dict:
    """The "banned now" figure: this host's fail2ban on a single host; in a
    fleet, what the chosen node (or every up node, summed) last published."""
    if not multi_node:
        return {"value": server.overview.currently_banned if server.reachable else None,
                "note": "" if server.reachable else "fail2ban not answering"}
    states = [s for s in fleet.fleet() if not node or s.name == node]
    known = [b for b in (s.banned() for s in states) if b is not None]
    where = f"on {node}" if node else "on all nodes"
    if not known:
        return {"value": None, "note": f"{where}: no node answering"}
    missing = len(states) - len(known)
    return {"value": sum(known), "note": where + (f", {missing} not answering" if missing
                                                  else "")}


def _query(filters: dict, **override) -> str:
    """The query string for ``filters`` with ``override``, defaults left out."""
    merged = {**filters, **override}
    return urlencode({k: v for k, v in merged.items()
                      if v not in ("", None) and v != BanTableFilterForm.DEFAULTS.get(k)})


def _bucket_label(start: datetime, window: str) -> str:
    return timezone.localtime(start).strftime(BUCKET_FORMAT[Window(window)])


def _scope(f: dict, *leave_out: str) -> dict:
    """The filters as the archive queries take them (empty: None)."""
    scope = {"jail": f["jail"] or None, "country": f["country"] or None,
             "origin": f["origin"] or None, "ip_query": f["ip"] or None,
             "kind": f["kind"] or None, "node": f["node"] or None}
    return {k: v for k, v in scope.items() if k not in leave_out}


def _charts(f: dict) -> dict:
    window = f["window"]
    buckets = queries.bans_over_time(window, **_scope(f))
    countries = queries.top_countries(window, 10, **_scope(f, "country"))
    jails = queries.bans_by_jail(window, **_scope(f, "jail"))
    over_time = charts.columns([(_bucket_label(b.start, window), b.count) for b in buckets])
    return {
        "top_jail": jails[0] if jails else None,
        "top_country": countries[0] if countries else None,
        "over_time": over_time,
        "bucket": WINDOW_BUCKET[Window(window)][1],
        "countries": charts.bars([
            (country_name(c.country_code), c.count,
             "?" + _query(f, country=c.country_code, page=1)) for c in countries]),
        "by_jail": charts.bars([(j.jail, j.count, "?" + _query(f, jail=j.jail, page=1))
                                for j in jails]),
        "archive_jails": [j.jail for j in jails],
    }


def _columns(f: dict, multi_node: bool = False) -> list[dict]:
    current = f["sort"]
    out = []
    columns = COLUMNS
    if multi_node:  # which node's fail2ban holds the ban, after the jail
        columns = (*COLUMNS[:3], ("Node", None, False), *COLUMNS[3:])
    for label, field, numeric in columns:
        col = {"label": label, "numeric": numeric, "field": field,
               "key": label.lower()}  # CSS hook: phones hide the less needed columns
        if field:
            if current.removeprefix("-") == field:
                col["aria_sort"] = "descending" if current.startswith("-") else "ascending"
                nxt = field if current.startswith("-") else f"-{field}"
            else:
                nxt = f"-{field}" if field in ("banned_at", "ban_count") else field
            col["href"] = "?" + _query(f, sort=nxt, page=1)
        out.append(col)
    return out


def table_context(request: HttpRequest, data: QueryDict) -> dict:
    """Everything the ``ban-table`` fragment needs (and the charts beside it)."""
    f, notes = BanTableFilterForm(data).values()
    table = queries.ban_table(f["window"], **_scope(f), sort=f["sort"], page=f["page"],
                              per_page=f["per_page"])
    # Live state of just the IPs on this page: its cost does not grow with
    # the bans fail2ban holds (jails.live.state).
    here = [row.ip for row in table.object_list if row.node == settings.BANGUI_NODE]
    server = status.read_state()  # the status bar's, once per request
    live = live_bans.read(here, overview=server.overview)
    others = fleet_live.states({row.node for row in table.object_list} - {settings.BANGUI_NODE},
                               [row.ip for row in table.object_list])
    now = timezone.now()
    rows = [(row, live_state(row, live, others, now)) for row in table.object_list]
    filtered = any(f[k] for k in ("jail", "country", "origin", "ip", "kind", "node"))
    node_names, multi_node = fleet.scope_choices(f["node"])
    chart_context = _charts(f)
    figures = queries.summary(f["window"], **_scope(f), total=table.paginator.count)
    filter_jails = sorted(set(live.jails) | set(chart_context.pop("archive_jails"))
                          | ({f["jail"]} if f["jail"] else set()))
    return {
        "f": f, "notes": notes, "table": table, "rows": rows, "live": live,
        "filtered": filtered, "window_label": Window(f["window"]).label,
        "windows": Window.choices, "origins": Origin.choices, "kinds": KIND_CHOICES,
        "per_page_choices": PER_PAGE_CHOICES,
        "is_fragment": wants_fragment(request),
        # once per render, not per row
        "can_operate": request.user.has_perm("accounts.ban"),
        "filter_jails": filter_jails,
        "figures": figures, "server": server,
        "banned_now": banned_now(server, f["node"], multi_node),
        "multi_node": multi_node, "node_names": node_names,
        # The newest ban shown (epoch seconds): the poll counts bans after it.
        "newest_at": (f"{table.object_list[0].banned_at.timestamp():.6f}" if table.object_list
                      and f["sort"] == "-banned_at" and table.number == 1 else None),
        **_links(f, table, multi_node), **chart_context,
    }


def _links(f: dict, table, multi_node: bool = False) -> dict:
    """The table's query strings: sort headers, pages, actions, the poll."""
    return {
        "columns": _columns(f, multi_node), "query": _query(f),
        "prev_query": _query(f, page=table.number - 1),
        "next_query": _query(f, page=table.number + 1),
        "ban_url": f"{reverse('dashboard_ban')}?{_query(f)}",
        "unban_url": f"{reverse('dashboard_unban')}?{_query(f)}",
        "new_bans_url": f"{reverse('dashboard_new_bans')}?{_query(f, page=1, since=None)}",
    }


def _purge_warning(server: status.ServerState) -> str | None:
    if server.overview is None:
        return None  # the status bar already says fail2ban is down
    return archive.purge_warning(server.overview.dbpurgeage)


def _render(request: HttpRequest, data: QueryDict, result: Result | None = None,
            at_form: bool = False) -> HttpResponse:
    """The page or its ban-table fragment, with ``result`` above the table,
    or (``at_form``: an HTMX answer to the "Ban an IP" form, low on the page)
    beside that form, out of band, where the user is looking."""
    context = table_context(request, data)
    context["result"] = result
    context["result_at_form"] = at_form and context["is_fragment"]
    if not context["is_fragment"]:
        live = context["live"]
        context["purge_warning"] = _purge_warning(context["server"]) if live.reachable else None
        context["ban_form"] = ManualBanForm.here_and_fleet(
            live.jails, {"jail": live.default_jail()}, context["multi_node"])
    return render_page(request, "jails/dashboard.html", "ban-table", context)


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _render(request, request.GET)


# --- actions ---------------------------------------------------------------------------
def _answer(request: HttpRequest, result: Result, at_form: bool = False) -> HttpResponse:
    query = _query(BanTableFilterForm(request.GET).values()[0])
    return respond(request, result, lambda r: _render(request, request.GET, r, at_form),
                   reverse("dashboard") + (f"?{query}" if query else ""))


@require_POST
@ban_or_unban
def ban(request: HttpRequest) -> HttpResponse:
    node = request.POST.get("node", "")
    form = ManualBanForm(request.POST, jails=[request.POST.get("jail", "")],
                         nodes=[node] if node else None)
    if not form.is_valid():
        return _answer(request, refused(request, "ban", request.POST.get("ip", "")[:100], form,
                                        "Nothing was banned: "), at_form=True)
    ip, jail = form.cleaned_data["ip"], form.cleaned_data["jail"]
    node = form.cleaned_data.get("node", "")
    if form.cleaned_data.get("permanent") and not node:
        running = live_bans.read([]).jails
        if PERMANENT_JAIL not in running:  # say what to do, not "no such jail"
            return _answer(request, results.refused_because(
                request, "ban", f"{jail} {ip}",
                f"Nothing was banned: a permanent ban goes into BanGUI's jail "
                f"{PERMANENT_JAIL!r} (bantime -1), which is not running. Create BanGUI's "
                "jails on the Config page first."), at_form=True)
    confirm = {"ip": ip, "jail": jail, **({"permanent": "1"} if jail == PERMANENT_JAIL else {})}
    return _answer(request, results.ban(request, jail, [ip], confirm, node=node), at_form=True)


@require_POST
@ban_or_unban
def unban(request: HttpRequest) -> HttpResponse:
    form = UnbanForm(request.POST)
    if not form.is_valid():
        return _answer(request, refused(request, "unban", request.POST.get("ip", "")[:100],
                                        form, "Nothing was unbanned: "))
    return _answer(request, results.unban(request, form.cleaned_data["ip"],
                                          form.cleaned_data["jail"], form.cleaned_data["node"]))


@login_required
@require_GET
def new_bans(request: HttpRequest) -> HttpResponse:
    """How many bans match the filters and are newer than ``since`` (the
    newest row the table shows, epoch seconds): the "N new bans — show" line, polled by bangui.js
    while the tab is visible. Empty when there are none."""
    f, _ = BanTableFilterForm(request.GET).values()
    try:
        since = datetime.fromtimestamp(float(request.GET.get("since", "")), UTC)
    except (ValueError, OverflowError, OSError):
        return HttpResponse("")
    count = queries.newer_than(since, f["window"], **_scope(f))
    return render(request, "jails/partials/new_bans.html",
                  {"count": count, "query": _query(f, page=1)})
