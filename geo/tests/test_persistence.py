"""Answers written through, last_seen touches flushed, and page-view reads
that never write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from geo.cache import GeoCache
from geo.models import GeoCacheEntry
from geo.result import GeoResult
from geo.tests.conftest import StubResolver

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Now:
    def __init__(self) -> None:
        self.value = T0

    def __call__(self) -> datetime:
        return self.value


def _row(ip: str, code: str | None = "FR", *, seen: datetime = T0, resolved: datetime = T0):
    return GeoCacheEntry.objects.create(
        ip=ip, country_code=code, country_name="France" if code else None,
        source="mmdb" if code else "none", resolved_at=resolved, last_seen=seen)


def _writes(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_it_writes_new_answers_as_it_resolves_them():
    _row("5.5.5.5", "FR")
    cache = GeoCache([StubResolver({"8.8.8.8": "US", "9.9.9.9": "CH", "5.5.5.5": "XX"})])
    cache.lookup_batch(["8.8.8.8", "9.9.9.9", "5.5.5.5", "10.0.0.1"])

    rows = {e.ip: e for e in GeoCacheEntry.objects.all()}
    assert set(rows) == {"8.8.8.8", "9.9.9.9", "5.5.5.5"}
    assert rows["8.8.8.8"].country_code == "US"
    assert rows["8.8.8.8"].country_name == "United States"
    assert rows["9.9.9.9"].source == "mmdb"
    assert rows["5.5.5.5"].country_code == "FR"  # read from the table, not re-resolved
    # Only 5.5.5.5 (read from the table) waits for its last_seen: the new
    # rows were written with it.
    assert cache.flush_touches() == 1


def test_it_writes_new_entries_in_one_bulk_statement():
    answers = {f"8.8.{i}.1": "US" for i in range(50)}
    cache = GeoCache([StubResolver(answers)])
    with CaptureQueriesContext(connection) as ctx:
        cache.lookup_batch(list(answers))
    assert len([q for q in _writes(ctx) if q.lstrip().upper().startswith("INSERT")]) == 1
    assert GeoCacheEntry.objects.count() == 50


class RichResolver(StubResolver):
    """Answers with every column set, so a write that drops or shifts one shows."""

    def resolve(self, ips):
        ips = list(ips)
        self.calls.append(ips)
        return {ip: GeoResult(ip, self.answers[ip], f"Land {self.answers[ip]}", 64500 + n,
                              f"Org {n} \u00e9", self.source) if ip in self.answers else None
                for n, ip in enumerate(ips)}


def test_a_big_write_stores_every_column_and_overwrites_a_stored_failure():
    # 1,200 addresses: three statements of DB_CHUNK, IPv6 among them; one
    # address was stored unresolved before (the upsert's update path).
    ips = [f"8.{i // 250}.{i % 250}.1" for i in range(1100)]
    ips += [f"2a00:1450:4001::{i:x}" for i in range(1, 101)]
    answers = {ip: ("US" if n % 2 else "FR") for n, ip in enumerate(ips)}
    GeoCacheEntry.objects.create(ip=ips[7], country_code=None, source="none",
                                 resolved_at=T0 - timedelta(days=9),
                                 last_seen=T0 - timedelta(days=9))
    resolver = RichResolver(answers)
    cache = GeoCache([resolver], now=lambda: T0)
    cache.lookup_batch(ips)

    asked = {ip: n for n, ip in enumerate(resolver.calls[0])}
    rows = {e.ip: e for e in GeoCacheEntry.objects.all()}
    assert set(rows) == set(ips)
    for ip in ips:
        n = asked[ip]
        assert (rows[ip].country_code, rows[ip].country_name, rows[ip].asn, rows[ip].org,
                rows[ip].source, rows[ip].resolved_at, rows[ip].last_seen) == (
            answers[ip], f"Land {answers[ip]}", 64500 + n, f"Org {n} \u00e9", "mmdb", T0, T0)


def test_it_stores_unresolved_addresses_so_reresolve_finds_them():
    cache = GeoCache([StubResolver({})])
    cache.lookup("8.8.8.8")
    entry = GeoCacheEntry.objects.get(ip="8.8.8.8")
    assert (entry.country_code, entry.source) == (None, "none")


def test_it_coalesces_last_seen_touches_into_one_update():
    for i in range(20):
        _row(f"5.5.5.{i}", seen=T0 - timedelta(days=3))
    now = Now()
    cache = GeoCache([StubResolver({})], now=now)
    ips = [f"5.5.5.{i}" for i in range(20)]
    now.value = T0 + timedelta(seconds=5)
    cache.lookup_batch(ips)
    now.value = T0 + timedelta(seconds=30)
    cache.lookup_batch(ips)
    with CaptureQueriesContext(connection) as ctx:
        written = cache.flush_touches()
    assert written == 20
    assert len(_writes(ctx)) == 1
    assert set(GeoCacheEntry.objects.values_list("last_seen", flat=True)) == {T0}


def test_an_answer_the_database_refused_is_resolved_again(monkeypatch):
    # A fault a real database will not show on demand: the upsert fails.
    cache = GeoCache([StubResolver({"8.8.8.8": "US"})])

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("geo.cache._upsert", fail)
    with pytest.raises(RuntimeError):
        cache.lookup("8.8.8.8")
    assert cache.stats()["memory"] == 0  # not trusted from memory: never stored
    monkeypatch.undo()
    assert cache.lookup("8.8.8.8").country_code == "US"
    assert GeoCacheEntry.objects.filter(ip="8.8.8.8", country_code="US").exists()


def test_it_keeps_pending_touches_when_the_database_fails(monkeypatch):
    _row("5.5.5.5", seen=T0 - timedelta(days=3))
    cache = GeoCache([StubResolver({})], now=lambda: T0)
    cache.lookup_batch(["5.5.5.5"])
    assert cache.stats()["touches"] == 1

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("django.db.models.query.QuerySet.update", fail)
    with pytest.raises(RuntimeError):
        cache.flush_touches()
    assert cache.stats()["touches"] == 1
    monkeypatch.undo()
    assert cache.flush_touches() == 1
    assert GeoCacheEntry.objects.get(ip="5.5.5.5").last_seen == T0


def test_lookup_cached_only_makes_no_database_writes(bundled_resolver):
    _row("5.5.5.5", "FR")
    _row("6.6.6.6", None)
    cache = GeoCache([bundled_resolver])
    with CaptureQueriesContext(connection) as ctx:
        results = cache.lookup_cached_only(
            ["5.5.5.5", "6.6.6.6", "8.8.8.8", "10.0.0.1", "2001:4860:4860::8888"])
    assert _writes(ctx) == []
    assert len(ctx.captured_queries) == 1
    assert results["5.5.5.5"].country_code == "FR"  # from geo_cache
    assert results["8.8.8.8"].country_code == "US"  # from the local MMDB
    assert results["10.0.0.1"].source == "local"
    assert cache.stats()["touches"] == 0
    with CaptureQueriesContext(connection) as ctx:
        cache.flush_touches()
    assert _writes(ctx) == []


def test_lookup_cached_only_answers_from_memory_without_a_query():
    _row("5.5.5.5", "FR")
    cache = GeoCache([StubResolver({})])
    cache.lookup_cached_only(["5.5.5.5"])
    with CaptureQueriesContext(connection) as ctx:
        assert cache.lookup_cached_only(["5.5.5.5"])["5.5.5.5"].country_code == "FR"
    assert ctx.captured_queries == []


def test_load_from_db_warms_memory_with_resolved_rows():
    _row("5.5.5.5", "FR")
    _row("6.6.6.6", None)
    resolver = StubResolver({})
    cache = GeoCache([resolver])
    assert cache.load_from_db() == 1
    with CaptureQueriesContext(connection) as ctx:
        assert cache.lookup("5.5.5.5").country_code == "FR"
    assert ctx.captured_queries == []
    assert resolver.calls == []
