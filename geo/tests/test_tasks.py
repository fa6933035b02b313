"""flush / cleanup / reresolve tasks and their commands."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from geo import tasks
from geo.cache import GeoCache
from geo.models import GeoCacheEntry
from geo.tests.conftest import StubResolver

pytestmark = pytest.mark.django_db


def _row(ip: str, code: str | None = "FR", *, seen_days: int = 0, resolved_days: int = 0):
    now = timezone.now()
    return GeoCacheEntry.objects.create(
        ip=ip, country_code=code, country_name="France" if code else None,
        source="mmdb" if code else "none",
        resolved_at=now - timedelta(days=resolved_days), last_seen=now - timedelta(days=seen_days))


def test_flush_writes_the_touches_of_cache_hits():
    _row("5.5.5.1", seen_days=3)
    cache = GeoCache([StubResolver({})])
    cache.lookup("5.5.5.1")  # a hit: its last_seen waits in memory
    assert tasks.flush(cache) == 1
    seen = GeoCacheEntry.objects.get(ip="5.5.5.1").last_seen
    assert timezone.now() - seen < timedelta(minutes=2)


def test_cleanup_deletes_only_stale_entries():
    _row("5.5.5.1", seen_days=91)
    _row("5.5.5.2", seen_days=89)
    _row("5.5.5.3", seen_days=0)
    cache = GeoCache([StubResolver({})])
    assert tasks.cleanup(cache) == 1
    assert set(GeoCacheEntry.objects.values_list("ip", flat=True)) == {"5.5.5.2", "5.5.5.3"}


def test_cleanup_honours_the_retention_setting(settings):
    settings.GEO_RETENTION_DAYS = 10
    _row("5.5.5.1", seen_days=11)
    _row("5.5.5.2", seen_days=9)
    assert tasks.cleanup(GeoCache()) == 1
    assert list(GeoCacheEntry.objects.values_list("ip", flat=True)) == ["5.5.5.2"]


def test_cleanup_spares_an_entry_with_a_pending_touch():
    _row("5.5.5.1", seen_days=200)
    cache = GeoCache([StubResolver({})])
    cache.lookup("5.5.5.1")  # seen just now, not flushed yet
    assert tasks.cleanup(cache) == 0
    assert GeoCacheEntry.objects.filter(ip="5.5.5.1").exists()


def test_cleanup_forgets_deleted_entries_in_memory():
    _row("5.5.5.1", seen_days=200)
    cache = GeoCache([StubResolver({})])
    cache.load_from_db()
    tasks.cleanup(cache)
    assert cache.stats()["memory"] == 0


def test_reresolve_fills_a_null_country_when_the_resolver_succeeds():
    _row("5.5.5.1", None)
    _row("5.5.5.2", "FR")
    resolver = StubResolver({"5.5.5.1": "DE", "5.5.5.2": "IT"})
    assert tasks.reresolve(GeoCache([resolver])) == 1
    entry = GeoCacheEntry.objects.get(ip="5.5.5.1")
    assert (entry.country_code, entry.country_name, entry.source) == ("DE", "Germany", "mmdb")
    assert GeoCacheEntry.objects.get(ip="5.5.5.2").country_code == "FR"  # fresh: not retried
    assert resolver.calls == [["5.5.5.1"]]


def test_reresolve_retries_entries_older_than_the_setting(settings):
    settings.GEO_RERESOLVE_DAYS = 30
    _row("5.5.5.1", "FR", resolved_days=31)
    _row("5.5.5.2", "FR", resolved_days=29)
    resolver = StubResolver({"5.5.5.1": "BE", "5.5.5.2": "BE"})
    assert tasks.reresolve(GeoCache([resolver])) == 1
    assert dict(GeoCacheEntry.objects.values_list("ip", "country_code")) == {
        "5.5.5.1": "BE", "5.5.5.2": "FR"}


def test_reresolve_leaves_an_entry_when_the_resolver_fails_and_respects_the_negative_cache(
    clock,
):
    _row("5.5.5.1", None)
    _row("5.5.5.2", "FR", resolved_days=60)
    resolver = StubResolver({})
    cache = GeoCache([resolver], clock=clock)

    assert tasks.reresolve(cache) == 0
    assert dict(GeoCacheEntry.objects.values_list("ip", "country_code")) == {
        "5.5.5.1": None, "5.5.5.2": "FR"}
    assert len(resolver.calls) == 1

    assert tasks.reresolve(cache, days=1) == 0  # both still in the negative cache
    assert len(resolver.calls) == 1

    clock.advance(301)
    resolver.answers["5.5.5.1"] = "DE"
    assert tasks.reresolve(cache) == 1
    assert GeoCacheEntry.objects.get(ip="5.5.5.1").country_code == "DE"


def test_reresolve_works_in_batches_of_100():
    for i in range(250):
        _row(f"5.5.{i // 200}.{i % 200 + 1}", None)
    resolver = StubResolver({})
    tasks.reresolve(GeoCache([resolver]))
    assert [len(c) for c in resolver.calls] == [100, 100, 50]


def test_the_commands_run_the_tasks(settings):
    _row("5.5.5.1", seen_days=400)
    out = StringIO()
    call_command("geo_cleanup", stdout=out)
    call_command("geo_reresolve", stdout=out)
    text = out.getvalue()
    assert "geo cleanup: 1 rows deleted" in text
    assert "geo re-resolve: 0 rows resolved" in text


def test_the_schedules_are_declared():
    from bangui.schedules import SCHEDULES

    funcs = {t.func for t in SCHEDULES}
    assert {"geo.tasks.flush", "geo.tasks.cleanup", "geo.tasks.reresolve"} <= funcs
