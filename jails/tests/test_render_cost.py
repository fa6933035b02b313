"""Render cost (issue #29): each optimisation keeps what the pages show.

Each test builds a few hundred bans inline (enough for every chart bucket,
table row and rollup day to matter) and checks the page's content against
a count made the plain way, over the archive's rows."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jails.archive import queries
from jails.constants import WINDOW_BUCKET, Window
from jails.fail2ban import Fail2banClient
from jails.live import state as live_state_of
from jails.live.state import LiveState
from jails.models import BanEvent, ip_sort_key
from jails.views.dashboard import live_state

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 12, 30, tzinfo=UTC)


@pytest.fixture
def year_of_bans():
    """300 bans over 400 days, one in ten permanent, one in seven a range."""
    rows = []
    for n in range(300):
        ip = f"198.51.{n % 7}.0/24" if n % 7 == 0 else f"192.0.{n % 50}.{n % 200 + 1}"
        rows.append(BanEvent(ip=ip, ip_key=ip_sort_key(ip), jail=("sshd", "postfix")[n % 2],
                             country_code=("DE", "US", None)[n % 3],
                             banned_at=NOW - timedelta(hours=n * 32 + n % 5),
                             bantime=-1 if n % 10 == 0 else 600))
    BanEvent.objects.bulk_create(rows)
    return rows


def _plain_buckets(rows, window: str, keep) -> Counter:
    unit, size = WINDOW_BUCKET[Window(window)]
    start = NOW - {"24h": timedelta(days=1), "7d": timedelta(days=7),
                   "30d": timedelta(days=30), "365d": timedelta(days=365)}[window]
    out: Counter = Counter()
    for row in rows:
        if start <= row.banned_at <= NOW + queries.FUTURE_SLACK and keep(row):
            out[queries._floor(row.banned_at, unit, size)] += 1
    return out


@pytest.mark.parametrize("window", ["7d", "30d", "365d"])
@pytest.mark.parametrize("kind", [None, "permanent", "range"])
def test_it_charts_the_kind_filter_over_time(year_of_bans, window, kind):
    """The chart once dropped the table's "kind" filter (a shadowed name):
    a "permanent bans" dashboard charted every ban."""
    keep = {None: lambda r: True, "permanent": lambda r: r.bantime < 0,
            "range": lambda r: "/" in r.ip}[kind]
    buckets = queries.bans_over_time(window, kind=kind, now=NOW)
    expected = _plain_buckets(year_of_bans, window, keep)
    assert {b.start: b.count for b in buckets if b.count} == dict(expected)
    total = queries.ban_table(window, kind=kind, now=NOW).paginator.count
    assert sum(b.count for b in buckets) == total


def test_the_year_chart_reads_the_rollup_not_every_ban(year_of_bans):
    """Unfiltered, the year's chart sums the daily rollup and reads only the
    window's two edge days from the archive (it read the whole year: half a
    second at a million bans)."""
    with CaptureQueriesContext(connection) as ctx:
        buckets = queries.bans_over_time("365d", now=NOW)
    archive = [q["sql"] for q in ctx.captured_queries if "jails_banevent" in q["sql"]]
    assert any("jails_banday" in q["sql"] for q in ctx.captured_queries)
    assert len(archive) == 1 and " OR " in archive[0]  # the two edges, one query
    assert {b.start: b.count for b in buckets if b.count} == dict(
        _plain_buckets(year_of_bans, "365d", lambda r: True))


# The ban table's rows as the dashboard template wrote them before they were
# written in Python (jails.templatetags.bans.ban_row): the reference.
TEMPLATE_ROWS = "{% load humanize bans %}" + (
    Path(__file__).with_name("dashboard_rows_before.html").read_text())


def _normal(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html)).strip()


def _rows_both_ways(rows, **context):
    context = {"csrf_token": "tok<en>", "unban_url": "/unban/?window=7d&jail=a",
               "ban_url": "/ban/?window=7d", **context}
    old = Template(TEMPLATE_ROWS).render(Context({"rows": rows, **context}))
    new = Template("{% load bans %}{% ban_rows rows %}").render(
        Context({"rows": rows, **context}))
    return _normal(old), _normal(new)


@pytest.fixture
def table_rows(settings):
    """200 archived bans in every state the "Now" column knows, on this node
    and another, IPv4, IPv6 and ranges, with odd characters where text is free."""
    now = timezone.now()
    live = LiveState(True, jails=["sshd", "postfix"], known=True)
    others = {"edge-2": LiveState(True, jails=["sshd"], known=True)}
    unknown = LiveState(True, jails=["sshd"], known=False, note='no "bips" <table>')
    rows = []
    for n in range(200):
        ip = (f"2001:db8::{n:x}", f"192.0.2.{n % 250}", f"198.51.{n % 250}.0/24")[n % 3]
        event = BanEvent(
            id=n + 1, node=("here", "edge-2", "edge-3")[n % 3] if n % 4 else "here", ip=ip,
            jail=("sshd", "postfix", "gone<jail>")[n % 3], country_code=("DE", None, "ZZ")[n % 3],
            origin=("detected", "manual", "blocklist", "shared")[n % 4],
            shared_from="edge-2" if n % 4 == 3 else None, ban_count=1 + n * 997,
            bantime=(-1, 600, 86400 * 3)[n % 3],
            banned_at=now - timedelta(minutes=n * 7 + 1, seconds=20),
            unbanned_at=now - timedelta(minutes=1) if n % 5 == 0 else None,
            unbanned_by=("ann & <bob>" if n % 10 == 0 else None))
        for state in (live, others["edge-2"]):
            if n % 6 in (1, 3):
                state.bans[(event.jail, event.ip)] = _entry(event.banned_at, event.bantime)
            if n % 6 == 2:  # a newer ban of the IP replaced this one
                state.bans[(event.jail, event.ip)] = _entry(now, 600)
        rows.append(event)
    settings.BANGUI_NODE = "here"
    out = []
    for n, row in enumerate(rows):
        state = unknown if n % 17 == 0 else live
        out.append((row, live_state(row, state, others, now)))
    return out


def _entry(at, bantime):
    from jails.fail2ban.results import BanEntry

    return BanEntry(ip="", banned_at=at, bantime=bantime,
                    ends_at=None if bantime < 0 else at + timedelta(seconds=bantime))


@pytest.mark.parametrize("can_operate", [True, False])
@pytest.mark.parametrize("multi_node", [True, False])
def test_the_ban_rows_are_the_templates_markup(table_rows, can_operate, multi_node):
    states = Counter(now["state"] for _row, now in table_rows)
    assert {"banned", "unbanned", "expired", "lifted", "replaced", "unknown"} <= set(states)
    old, new = _rows_both_ways(table_rows, can_operate=can_operate, multi_node=multi_node)
    assert new.count("<tr ") == 200
    if can_operate:
        assert all(f">{button} <" in new for button in ("Unban", "Ban again", "Ban its /64",
                                                           "Unban on edge-2"))
    assert old == new


def test_cached_aggregates_expire_at_spread_times_never_later(monkeypatch):
    """A page's aggregates, filled by one request, expire at different
    moments within the minute (no request pays for all of them at once),
    and none is kept longer than the minute the docs promise."""
    from jails.archive import rollup

    kept = []
    monkeypatch.setattr(rollup.cache, "set", lambda key, value, timeout: kept.append(timeout))
    values = [rollup.remembered("test:", ("part", n), lambda n=n: n * 2, 60) for n in range(40)]
    assert values == [n * 2 for n in range(40)]  # the computed values, unchanged
    assert all(30 <= t <= 60 for t in kept) and len(set(kept)) > 30


def test_the_views_year_dashboard_is_the_exact_one(year_of_bans, admin_client, settings,
                                                  tmp_path):
    """Through the views' caches (settled days and hours, spread expiry), the
    year's figures and charts are those computed without any cache."""
    from django.core.cache import cache

    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")
    cache.clear()
    now = timezone.now()
    for window in ("24h", "7d", "365d"):
        exact = queries.bans_over_time(window, now=now)
        for _ in range(2):  # cold, then warm
            views = queries.bans_over_time(window)
            assert [b.count for b in views][-len(exact) + 1:-1] == \
                [b.count for b in exact][-len(exact) + 1:-1]
        body = admin_client.get(f"/?window={window}").content.decode()
        total = queries.ban_table(window, now=timezone.now()).paginator.count
        assert f'data-testid="figure-total"><span class="figure-value">{total:,}<' in body


def test_the_map_shapes_are_the_templates_markup():
    """Every country shape of the world map, with and without bans (one
    ban, thousands), as the template wrote them."""
    from dataclasses import replace

    from jails.archive.map_data import world_map

    shapes = world_map("365d", now=NOW).shapes
    assert len(shapes) > 150
    counts = {0: 1, 1: 1234, 2: 0, 3: 999_999}
    shapes = tuple(replace(c, bans=counts.get(n % 5, 7), band=n % 6)
                   for n, c in enumerate(shapes))
    context = {"shapes": shapes, "query": "window=365d&origin=manual"}
    old = Template("{% load humanize %}" + Path(__file__).with_name(
        "map_shapes_before.html").read_text().replace("map.shapes", "shapes")).render(
        Context(context))
    new = Template("        {% load bans %}{% map_shapes shapes query %}\n").render(
        Context(context))
    assert "1,234 bans" in new and ": 1 ban<" in new and "no bans" in new
    assert "window=365d&amp;origin=manual&amp;country=" in new
    assert old == new


# The dashboard's charts as their templates wrote each bar and row before
# ColumnChart.bar_shapes / BarChart.row_shapes: the reference.
@pytest.mark.parametrize("window", ["24h", "365d"])
def test_the_charts_shapes_are_the_templates_markup(window):
    from jails.archive import charts

    points = [(f"2026-12-{n % 28 + 1:02d} <{n}>&", (0, 1, 2, 1234, 999_999)[n % 5])
              for n in range(24 if window == "24h" else 53)]
    over_time = charts.columns(points)
    items = [(("Côte d'Ivoire & a name longer than twenty-two", "odd<jail>&", "sshd")[n % 3],
              (1, 7, 12345)[n % 3], f"/?window={window}&country=X{n}&a=<b>") for n in range(10)]
    context = {"over_time": over_time, "window_label": "the last day", "bucket": 3600,
               "chart": charts.bars(items), "key": "countries", "title": "Top <countries>",
               "empty": "none"}
    for before, after in (
            ("column_chart_before.html", '{% include "jails/dashboard.html#charts" %}'),
            ("bar_chart_before.html", '{% include "jails/partials/dashboard_bar_chart.html" %}')):
        old = Template(Path(__file__).with_name(before).read_text()).render(Context(context))
        new = Template(after).render(Context(context))
        if before.startswith("column"):  # the partial's <section> around the figure
            new = new[new.index("<figure"):new.index("</figure>") + len("</figure>")]
        shown = ((": 1 ban<", "1,234 bans<", "&lt;3&gt;&amp;") if before.startswith("column")
                 else ("Show only odd&lt;jail&gt;&amp;<", "Côte d&#x27;Ivoire &amp; a nam…<",
                       "12,345</text>", "&amp;a=&lt;b&gt;"))
        assert all(text in new for text in shown), (before, new)
        assert _normal(old) == _normal(new), before


# The live-bans table (a jail page's, a node page's) as its template wrote
# each row before jails.templatetags.bans.live_ban_rows: the reference.
LIVE_BANS_BEFORE = Path(__file__).with_name("live_bans_before.html").read_text()


@pytest.mark.parametrize("may_ban", [True, False])
@pytest.mark.parametrize("with_jail", [True, False])
def test_the_live_ban_rows_are_the_templates_markup(may_ban, with_jail):
    from jails.fleet.models import LiveBan
    from jails.live.banned import Ban

    now = timezone.now()
    rows = []
    for n in range(120):
        ip = (f"2001:db8::{n:x}", f"192.0.2.{n % 250}", f"198.51.{n % 250}.0/24")[n % 3]
        ends = None if n % 4 == 0 else now + timedelta(seconds=60 * n + 7)
        if with_jail:  # a node page: LiveBan rows, with their jail
            rows.append(LiveBan(node="b", jail=("sshd", "odd<jail>&")[n % 2], ip=ip,
                                bantime=600, banned_at=now - timedelta(minutes=n),
                                ends_at=ends, bancount=(None, 1, 12345)[n % 3]))
        else:  # a jail page: fail2ban's bips rows (permanent, unknown time, timed)
            rows.append(Ban(ip=ip, banned_at=now - timedelta(minutes=n),
                            bantime=(-1, None, 600 + n)[n % 3] if n % 4 else None,
                            bancount=(None, 1, 12345)[n % 3]))
    perms = {"accounts": {"ban": may_ban}}
    context = {"rows": rows, "with_jail": with_jail, "name": "sshd", "perms": perms,
               "unban_url": "/jails/sshd/unban/?q=a&b", "target": "#jail-main",
               "select": with_jail, "where": ' on "b"', "testid": "t", "csrf_token": "tok<en>"}
    old = Template(LIVE_BANS_BEFORE).render(Context(context))
    new = Template("{% include 'jails/partials/live_bans.html' %}").render(Context(context))
    assert _normal(new).count("<tr>") == 121  # the header's and one a ban
    assert ("Unban <span" in new) is may_ban
    assert _normal(old) == _normal(new)


@pytest.mark.fail2ban
def test_a_page_asks_fail2ban_on_one_connection_and_shows_the_live_state(
        f2b, f2b_client, admin_client, monkeypatch):
    """The overview the status bar reads carries the running jails, the
    database file and dbpurgeage, so the rows' live state and the purge
    warning ask nothing more: one connection a page, each command once
    (there were three on the dashboard, two on the IP page). The rows still
    say "banned" for a live ban, and the purge warning still shows."""
    from jails.fail2ban import client as client_module

    f2b_client.ban("sshd", ["192.0.2.201"])
    assert live_state_of.settle("sshd", ["192.0.2.201"])
    BanEvent.objects.create(ip="192.0.2.201", jail="sshd", bantime=600, origin="manual",
                            banned_at=live_state_of.entry("sshd", "192.0.2.201").banned_at)
    f2b_client.set_dbpurgeage(60)
    connects, sent = [], []
    real, real_many = Fail2banClient._connect, client_module._Connection.call_many
    monkeypatch.setattr(Fail2banClient, "_connect", lambda self: connects.append(1) or real(self))
    monkeypatch.setattr(client_module._Connection, "call_many",
                        lambda conn, *cmds: sent.extend(map(tuple, cmds)) or real_many(conn, *cmds))
    pages = {}
    try:
        for path in ("/", "/ip/192.0.2.201/"):
            connects.clear(), sent.clear()
            pages[path] = admin_client.get(path).content.decode()
            assert len(connects) == 1, path
            assert len(sent) == len(set(sent)), (path, sent)
            assert ("get", "dbpurgeage") in sent and ("get", "dbfile") in sent, path
    finally:
        monkeypatch.undo()
        f2b_client.unban("sshd", ["192.0.2.201"])
        f2b_client.set_dbpurgeage(86400)
    html = pages["/"]
    row = html[html.index('data-ip="192.0.2.201"'):].split("</tr>")[0]
    assert "banned" in row
    assert 'data-testid="purge-warning"' in html
    assert "is not banned in any jail right now" not in pages["/ip/192.0.2.201/"]


@pytest.mark.django_db
def test_a_page_reads_the_runtime_settings_once(admin_client, settings):
    """The zone (TimezoneMiddleware) and the socket path (jails.live.link)
    come from the one row the request read at its start."""
    from accounts.models import RuntimeSettings

    settings.FAIL2BAN_SOCKET_FROM_ENV = False
    RuntimeSettings.objects.create(fail2ban_socket="/nonexistent/bangui-test.sock")
    admin_client.get("/jails/")
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/jails/")
    assert page.status_code == 200
    reads = [q["sql"] for q in queries.captured_queries if "accounts_runtimesettings" in q["sql"]]
    assert len(reads) == 1, reads


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/jails/"])
def test_a_page_reads_the_node_table_once(admin_client, path):
    """The page's node filter and the status bar's fleet summary share one
    read of the nodes (bangui.requestmemo)."""
    from nodes.models import Node

    Node.objects.create(name="other-node")
    admin_client.get(path)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(path)
    assert page.status_code == 200 and b"other-node" in page.content
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "bangui_node"' in q["sql"]]
    assert len(reads) == 1, reads
