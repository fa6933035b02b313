"""The archive's unsettled rows (the window's first partial hour and the
current hour) are counted once per request by (hour, jail, country), and
every count of the page is a sum of that (#29): the same figures as a
count per grouping, in one query where there were four."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bangui.requestmemo import RequestMemoMiddleware
from jails.archive import queries, rollup
from jails.models import BanEvent, ip_sort_key

pytestmark = pytest.mark.django_db

GROUPS = (None, "hour", "day", "jail", "country_code")


@pytest.fixture
def bans():
    """A burst in the current hour, bans at the start of the 24-hour window
    (its partial first hour), settled hours between, a year behind them,
    over three jails and three countries (one unresolved). Clear of an
    hour's last seconds: the tests count what the current hour holds."""
    left = 3600 - timezone.now().minute * 60 - timezone.now().second
    if left < 15:
        time.sleep(left + 1)
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    times = ([hour + (now - hour) * i / 400 for i in range(400)]  # this hour, up to now
             + [now - timedelta(days=1) + timedelta(seconds=30 + i) for i in range(60)]
             + [now - timedelta(hours=h, minutes=7) for h in range(2, 23)]
             + [now - timedelta(days=d, hours=d % 24) for d in range(2, 380, 3)])
    BanEvent.objects.bulk_create(
        BanEvent(ip=f"192.0.2.{n % 250 + 1}", ip_key=ip_sort_key(f"192.0.2.{n % 250 + 1}"),
                 jail=("sshd", "postfix", "dovecot")[n % 3],
                 country_code=("DE", None, "US")[n % 3 if n % 5 else 0],
                 banned_at=at, bantime=600)
        for n, at in enumerate(times))
    cache.clear()
    yield
    cache.clear()


def _in_request(work):
    """``work()`` inside a request's memo (as a view runs), its result."""
    out = {}

    def view(request):
        out["value"] = work()
        return HttpResponse()

    RequestMemoMiddleware(view)(RequestFactory().get("/"))
    return out["value"]


def _plain(window: str, group, now, **filters) -> dict:
    """The count the plain way: every row of the window, grouped."""
    rows = queries.events(window, now=now, **filters)
    return {k: n for k, n in rollup.count_rows(rows, group).items() if n}


@pytest.mark.parametrize("window", ["24h", "7d", "365d"])
@pytest.mark.parametrize("filters", [{}, {"jail": "postfix"}, {"country": "unknown"},
                                     {"country": "DE"}, {"origin": "detected"},
                                     {"ip_query": "192.0.2.1"}, {"kind": "permanent"},
                                     {"kind": "range"}, {"node": "elsewhere"},
                                     {"jail": "sshd", "country": "US", "ip_query": "192.0.2."}])
def test_every_grouping_counts_what_the_plain_count_does(bans, window, filters):
    def page():
        now = queries.request_now()
        return now, {g: {k: n for k, n in queries.window_counts(window, g, **filters).items()
                         if n} for g in GROUPS}

    for _ in range(2):  # cold caches, then warm
        now, counted = _in_request(page)
        for group in GROUPS:
            assert counted[group] == _plain(window, group, now, **filters), group


def test_a_page_counts_the_unsettled_rows_once(bans):
    def counts():
        return [queries.window_counts("24h", g) for g in GROUPS]

    with CaptureQueriesContext(connection) as cold:
        _in_request(counts)  # the settled hours and the current one are cached now
    with CaptureQueriesContext(connection) as inside:
        _in_request(counts)
    with CaptureQueriesContext(connection) as outside:
        counts()

    def grouped(queries):
        return [q["sql"] for q in queries.captured_queries
                if "jails_banevent" in q["sql"] and "GROUP BY" in q["sql"]]

    # Cold: the settled hours of each grouping but the total (a count), the
    # first partial hour, the current hour. Warm: the first partial hour
    # alone; the current hour is the rollup's two index reads, in one
    # statement (_rollup_state).
    assert len(grouped(cold)) == len(GROUPS) - 1 + 2
    assert len(grouped(inside)) == 1
    assert len([q for q in inside.captured_queries if "jails_banevent" in q["sql"]]) == 2
    assert len(inside.captured_queries) == 2
    # Outside a request (tasks, commands) each grouping still asks alone.
    assert len([q for q in outside.captured_queries if "jails_banevent" in q["sql"]]) \
        == len(GROUPS)


def test_the_current_hour_is_kept_only_while_nothing_changed(bans):
    """Each write the rollup's triggers see (a ban, a country filled in, a
    delete) is counted by the next page; a ban stamped past the window's
    end (another node's clock ahead) is not counted until its time."""
    def page():
        now = queries.request_now()
        return now, {g: {k: n for k, n in queries.window_counts("24h", g).items() if n}
                     for g in GROUPS}

    def exact() -> None:
        now, counted = _in_request(page)
        for group in GROUPS:
            assert counted[group] == _plain("24h", group, now), group

    def add(at, country=None) -> BanEvent:
        return BanEvent.objects.create(ip="198.51.100.9", ip_key=ip_sort_key("198.51.100.9"),
                                       jail="sshd", country_code=country, banned_at=at,
                                       bantime=600)

    exact()  # cached now
    late = add(timezone.now())
    exact()
    late.country_code = "FR"  # geo fills the country in
    late.save(update_fields=["country_code"])
    exact()
    BanEvent.objects.filter(banned_at__gte=timezone.now() - timedelta(minutes=1)).delete()
    exact()
    ahead = add(timezone.now() + timedelta(seconds=30), "FR")
    exact()
    assert ahead.pk not in {e.pk for e in queries.events("24h", now=timezone.now())}


def test_only_the_clocks_hour_is_kept(bans, monkeypatch):
    """The previous window's last partial hour (a day or a year ago) is
    read as before: "its rows from that hour on" would be every row since
    (a year of them: 5 s a render on the bench's PostgreSQL)."""
    hours = []
    keep = rollup._current_hour

    def spy(filtered, key, hour, high):
        hours.append(hour)
        return keep(filtered, key, hour, high)

    monkeypatch.setattr(rollup, "_current_hour", spy)
    before = timezone.now().replace(minute=0, second=0, microsecond=0)
    figures = _in_request(lambda: [queries.summary(w) for w in ("24h", "7d", "365d")])
    after = timezone.now().replace(minute=0, second=0, microsecond=0)
    assert hours and set(hours) <= {before, after}
    now = timezone.now()
    for window, summary in zip(("24h", "7d", "365d"), figures, strict=True):
        span = queries.WINDOW_SPAN[queries.Window(window)]
        assert summary.previous == BanEvent.objects.filter(
            banned_at__gte=now - 2 * span, banned_at__lt=now - span).count(), window


def test_a_request_has_one_now(bans, monkeypatch):
    ticks = iter(range(10))
    monkeypatch.setattr(queries.timezone, "now", lambda: next(ticks))
    assert _in_request(lambda: (queries.request_now(), queries.request_now())) == (0, 0)
    assert (queries.request_now(), queries.request_now()) == (1, 2)  # outside: each call


def test_the_dashboard_shows_the_plain_figures(bans, admin_client, settings, tmp_path):
    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")
    body = admin_client.get("/?window=24h").content.decode()
    total = queries.events("24h", now=timezone.now()).count()
    assert f'data-testid="figure-total"><span class="figure-value">{total:,}<' in body
    assert total > 400


def test_the_cells_of_no_rows_and_of_every_row(bans):
    """A filter that matches nothing asks nothing; no filter at all counts
    every row, by the hours, jails and countries the plain counts give."""
    with CaptureQueriesContext(connection) as none:
        assert rollup._cells(BanEvent.objects.none()) == []
    assert none.captured_queries == []
    cells = rollup._cells(BanEvent.objects.all())
    every = BanEvent.objects.all()
    for group, index in (("hour", 0), ("jail", 1), ("country_code", 2)):
        summed = {}
        for cell in cells:
            summed[cell[index]] = summed.get(cell[index], 0) + cell[3]
        assert summed == rollup.count_rows(every, group), group
    assert all(hour.tzinfo is not None and hour.minute == 0 for hour, *_ in cells)
