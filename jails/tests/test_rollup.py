"""The BanDay rollup: the database triggers keep it equal to a GROUP BY of
the archive through every kind of write, and ``rollup.counts`` (rollup for
whole days + archive for the partial edge days) equals counting the archive.
Runs on SQLite and PostgreSQL (each has its own triggers)."""

from __future__ import annotations

import io
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from jails.archive import queries as dashboard
from jails.archive import rollup
from jails.archive import sync as archive
from jails.constants import WINDOW_SPAN, Window
from jails.models import BanDay, BanEvent
from jails.tests import fail2ban_db

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 18, 12, 30, 15, tzinfo=UTC)
JAILS = ("sshd", "nginx", "postfix")
COUNTRIES = ("DE", "US", None, "CN")
ORIGINS = ("detected", "manual", "blocklist")


def _expected() -> Counter:
    """The rollup as it should be, from the archive itself."""
    out = Counter()
    for day, jail, code, origin in (BanEvent.objects.annotate(d=TruncDate("banned_at", tzinfo=UTC))
                                    .values_list("d", "jail", "country_code", "origin")):
        out[("jail", day, jail, origin)] += 1
        out[("country", day, code or "", origin)] += 1
    return out


def _rolled() -> Counter:
    rows = BanDay.objects.values_list("kind", "day", "key", "origin", "bans")
    assert all(n > 0 for *_, n in rows), "no empty rollup rows are kept"
    return Counter({(k, d, key, o): n for k, d, key, o, n in rows})


def _random_bans(n: int, seed: int = 1, span_days: int = 400) -> list[BanEvent]:
    rng = random.Random(seed)
    return [BanEvent(ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                     jail=rng.choice(JAILS), country_code=rng.choice(COUNTRIES),
                     origin=rng.choice(ORIGINS), bantime=600,
                     banned_at=NOW - timedelta(seconds=rng.randint(-30, span_days * 86400)))
            for i in range(n)]


def test_triggers_follow_inserts_updates_and_deletes():
    BanEvent.objects.bulk_create(_random_bans(3000))
    assert sum(_rolled().values()) == 2 * 3000
    assert _rolled() == _expected()

    # geo fills countries (a queryset UPDATE of many rows)
    BanEvent.objects.filter(country_code__isnull=True).update(country_code="FR")
    assert _rolled() == _expected()
    # one row saved through the ORM: origin and a ban time moved across midnight
    event = BanEvent.objects.order_by("id").first()
    event.origin = "manual" if event.origin != "manual" else "detected"
    event.banned_at = event.banned_at.replace(hour=23, minute=59, second=59) + timedelta(seconds=2)
    event.save()
    assert _rolled() == _expected()
    # an update of a column outside the key changes nothing
    before = _rolled()
    BanEvent.objects.update(unbanned_by="alice")
    assert _rolled() == before
    # deletes, including every row of some keys (their rollup rows go)
    BanEvent.objects.filter(jail="postfix").delete()
    assert _rolled() == _expected()
    assert not BanDay.objects.filter(kind="jail", key="postfix").exists()
    # the purge (chunked deletes past retention)
    archive.purge(retention_days=100)
    assert _rolled() == _expected()
    assert BanDay.objects.order_by("day").first().day >= (NOW - timedelta(days=101)).date()


def test_the_sync_keeps_it_exact(tmp_path):
    """The sync's own insert path (raw INSERT … ON CONFLICT; COPY on
    PostgreSQL), re-run over the same rows: nothing is counted twice."""
    path = fail2ban_db.create(tmp_path / "f2b.sqlite3", JAILS)
    rng = random.Random(4)
    start = int(NOW.timestamp())
    fail2ban_db.add_bans(path, [
        (rng.choice(JAILS), f"203.0.113.{i % 250}", start - rng.randint(0, 40 * 86400), 600, 1,
         fail2ban_db.ban_data()) for i in range(2500)])
    archive.sync(str(path), fill_geo=False, batch_size=700)
    archive.sync(str(path), fill_geo=False, batch_size=700, full=True)
    assert sum(_rolled().values()) == 2 * BanEvent.objects.count() > 4000
    assert _rolled() == _expected()


def test_rebuild_equals_the_triggers():
    BanEvent.objects.bulk_create(_random_bans(1000, seed=2))
    by_triggers = _rolled()
    BanDay.objects.all().delete()
    rollup.rebuild()
    assert _rolled() == by_triggers == _expected()


@pytest.mark.parametrize("now", [NOW, NOW.replace(hour=0, minute=0, second=0),
                                 NOW.replace(hour=23, minute=59, second=59)])
def test_counts_equal_counting_the_archive(now):
    BanEvent.objects.bulk_create(_random_bans(4000, seed=3))
    for window in ("24h", "7d", "30d", "365d"):
        for filters in ({}, {"jail": "sshd"}, {"country": "us"}, {"country": "unknown"},
                        {"origin": "manual", "jail": "nginx"}, {"jail": "sshd", "country": "DE"},
                        {"ip_query": "10.0.1."}):
            events = dashboard.events(window, now=now, **filters)
            def count(group, filters=filters, window=window):
                return dashboard.window_counts(window, group, now=now, **filters)
            assert count(None) == {None: events.count()}, (window, filters)
            assert count("jail") == Counter(events.values_list("jail", flat=True))
            assert count("country_code") == Counter(events.values_list("country_code",
                                                                       flat=True))
            raw = Counter(events.annotate(d=TruncDate("banned_at", tzinfo=UTC))
                          .values_list("d", flat=True))
            assert count("day") == raw, (window, filters)
            hours = Counter(events.annotate(h=TruncHour("banned_at", tzinfo=UTC))
                            .values_list("h", flat=True))
            assert count("hour") == hours, (window, filters)


@pytest.mark.parametrize("now", [NOW, NOW.replace(minute=0, second=0, microsecond=0),
                                 NOW.replace(hour=0, minute=0, second=0, microsecond=0),
                                 NOW.replace(minute=59, second=59)])
def test_the_views_cached_hours_add_up_to_the_exact_counts(now, monkeypatch):
    """The views' path (``cache_days``: settled days and hours from a
    minute-old cache) gives what reading everything gives, cold and warm,
    whatever the window's position against hours and days."""
    from django.core.cache import cache

    asked = []
    get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *args, **kw: asked.append(key) or get(
        key, *args, **kw))
    bans = _random_bans(3000, seed=5, span_days=10)
    for ban in bans[::3]:
        ban.node = "b"
    BanEvent.objects.bulk_create(bans)
    for window in ("24h", "7d", "30d"):
        start, end = now - WINDOW_SPAN[Window(window)], now
        for filters in ({}, {"jail": "sshd"}, {"country": "unknown"}, {"node": "b"},
                        {"origin": "manual", "jail": "nginx"}):
            base = dashboard.filtered(**filters)
            for group in (None, "hour", "day", "jail", "country_code"):
                exact = rollup.counts(base, start, end, group, **filters)
                assert rollup.counts(base, start, end, group, cache_days=True,
                                     **filters) == exact, (window, filters, group, "cold")
                assert rollup.counts(base, start, end, group, cache_days=True,
                                     **filters) == exact, (window, filters, group, "warm")
    assert any(key.startswith(rollup._HOURS_CACHE_PREFIX) for key in asked)  # used


def test_full_days_of_a_window():
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert rollup.full_days(start, datetime(2026, 11, 5, 1, 0, tzinfo=UTC)) == (
        date(2026, 11, 2), date(2026, 11, 4))
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    assert rollup.full_days(midnight, datetime(2026, 11, 2, 1, tzinfo=UTC)) == (
        date(2026, 11, 1), date(2026, 11, 1))
    assert rollup.full_days(start, datetime(2026, 11, 2, 11, 0, tzinfo=UTC)) is None


def test_long_windows_read_the_rollup_and_short_ones_the_archive():
    """Proof the rollup is what answers: emptied behind the triggers' back,
    the whole days vanish from 30d and 365d, and 24h (no whole day) or an
    IP search (not in the rollup) are unchanged."""
    BanEvent.objects.bulk_create(_random_bans(500, seed=5))
    before = {w: dashboard.window_counts(w, None, now=NOW)[None] for w in ("24h", "365d")}
    ip_search = dashboard.window_counts("365d", None, ip_query="10.0.1.", now=NOW)
    BanDay.objects.all().delete()
    assert dashboard.window_counts("24h", None, now=NOW)[None] == before["24h"]
    assert dashboard.window_counts("365d", None, now=NOW)[None] < before["365d"] / 10
    assert dashboard.window_counts("365d", None, ip_query="10.0.1.", now=NOW) == ip_search
    rollup.rebuild()
    assert dashboard.window_counts("365d", None, now=NOW)[None] == before["365d"]


def test_a_backfill_counts_once_at_the_end_and_a_killed_one_is_repaired(tmp_path):
    """SQLite's ``sync_bans --backfill`` drops its row triggers and rebuilds
    the rollup after; should the process die in between, the plain sync
    (a node's) leaves them out, and the owner's ``--rebuild-rollup`` puts
    them back and recounts. (PostgreSQL keeps its statement triggers
    throughout.)"""
    from django.core.management import call_command

    path = fail2ban_db.create(tmp_path / "f2b.sqlite3", JAILS)
    start = int(NOW.timestamp())
    fail2ban_db.add_bans(path, [("sshd", f"198.51.100.{i % 200}", start - i * 3000, 600, 1,
                                 fail2ban_db.ban_data()) for i in range(400)])
    call_command("sync_bans", "--backfill", "--db", str(path), "--no-geo", "--batch-size",
                 "50", stdout=io.StringIO())
    assert rollup.triggers_present()
    assert _rolled() == _expected() and sum(_rolled().values()) == 800

    rollup.drop_triggers()  # as if killed mid-backfill
    BanEvent.objects.filter(ip="198.51.100.1").delete()  # unseen by the rollup
    assert _rolled() != _expected()
    archive.sync(str(path), fill_geo=False)
    assert not rollup.triggers_present()  # a node's sync changes no schema
    call_command("sync_bans", "--rebuild-rollup", stdout=io.StringIO())
    assert rollup.triggers_present()
    assert _rolled() == _expected()


def test_the_command_rebuilds_it():
    from django.core.management import call_command

    BanEvent.objects.bulk_create(_random_bans(50, seed=6))
    BanDay.objects.all().delete()
    out = io.StringIO()
    call_command("sync_bans", "--rebuild-rollup", stdout=out)
    assert "daily rollup rebuilt" in out.getvalue()
    assert _rolled() == _expected()


def test_views_take_past_days_from_a_minute_old_cache_but_today_live():
    """Without an explicit now (as the views call it) the whole days' sums
    are cached for a minute; a ban today is counted at once; a change to a
    past day shows when the cache entry ends (here: cleared)."""
    from django.core.cache import cache

    now = timezone.now()
    BanEvent.objects.create(ip="192.0.2.1", jail="sshd", bantime=600, country_code="DE",
                            banned_at=now - timedelta(days=3))
    assert dashboard.window_counts("30d", None)[None] == 1
    BanEvent.objects.create(ip="192.0.2.2", jail="sshd", bantime=600, country_code="DE",
                            banned_at=now)  # today's edge, never cached
    BanEvent.objects.create(ip="192.0.2.3", jail="sshd", bantime=600, country_code="DE",
                            banned_at=now - timedelta(days=4))
    assert dashboard.window_counts("30d", None)[None] == 2  # today live, day -4 cached
    assert dashboard.window_counts("30d", None, now=timezone.now())[None] == 3
    cache.clear()
    assert dashboard.window_counts("30d", None)[None] == 3
