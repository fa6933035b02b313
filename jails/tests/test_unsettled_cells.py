"""The archive's unsettled rows (the window's first partial hour and the
current hour) are counted once per request by (hour, jail, country), and
every count of the page is a sum of that (#29): the same figures as a
count per grouping, in one query where there were four."""

from __future__ import annotations

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
    over three jails and three countries (one unresolved)."""
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
                                     {"country": "DE"}, {"origin": "detected"}])
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

    _in_request(counts)  # the settled hours are cached now
    with CaptureQueriesContext(connection) as inside:
        _in_request(counts)
    with CaptureQueriesContext(connection) as outside:
        counts()
    archive = [q["sql"] for q in inside.captured_queries if "jails_banevent" in q["sql"]]
    assert len(archive) == 1 and "GROUP BY" in archive[0]
    # Outside a request (tasks, commands) each grouping still asks alone.
    assert len([q for q in outside.captured_queries if "jails_banevent" in q["sql"]]) \
        == len(GROUPS)


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
