"""GeoCache.prepare + complete: lookup_batch in two halves, the first with
no database and no network (the archive sync runs it in its reader
thread). The two halves must answer as lookup_batch does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from geo.cache import GeoCache
from geo.models import GeoCacheEntry
from geo.tests.conftest import StubResolver

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ASKED = ["8.8.8.8", "9.9.9.9", "5.5.5.5", "7.7.7.7", "10.0.0.1", "not an ip",
         "2001:DB8:0:0::1", "2a00:1450::5", "::ffff:8.8.4.4", "8.8.8.8"]
ANSWERS = {"8.8.8.8": "US", "9.9.9.9": "CH", "5.5.5.5": "XX", "8.8.4.4": "US",
           "2001:db8::1": "XX", "2a00:1450::5": "XX"}


def _stored() -> None:
    # geo_cache wins over the resolver: 5.5.5.5 and the IPv6 address are
    # stored with another country than the resolver would give.
    for ip, code in (("5.5.5.5", "FR"), ("2a00:1450::5", "IE"), ("7.7.7.7", None)):
        GeoCacheEntry.objects.create(ip=ip, country_code=code, source="mmdb" if code else "none",
                                     resolved_at=T0, last_seen=T0)


def _answers(results) -> dict:
    return {ip: (r.ip, r.country_code, r.source) for ip, r in results.items()}


def test_the_two_halves_answer_as_lookup_batch_does():
    _stored()
    plain = GeoCache([StubResolver(ANSWERS)])
    expected = _answers(plain.lookup_batch(ASKED))
    touches = plain.stats()["touches"]
    rows = {e.ip: (e.country_code, e.source) for e in GeoCacheEntry.objects.all()}
    GeoCacheEntry.objects.all().delete()

    _stored()
    cache = GeoCache([StubResolver(ANSWERS)])
    with CaptureQueriesContext(connection) as ctx:
        prepared = cache.prepare(ASKED)
    assert ctx.captured_queries == []  # memory and the resolver only
    assert _answers(cache.complete(prepared)) == expected
    assert {e.ip: (e.country_code, e.source) for e in GeoCacheEntry.objects.all()} == rows
    assert expected["5.5.5.5"][1] == "FR" and expected["2a00:1450::5"][1] == "IE"
    assert expected["9.9.9.9"][1] == "CH" and expected["::ffff:8.8.4.4"][1] == "US"
    assert cache.stats()["touches"] == touches == 2  # the two read from geo_cache


def test_the_local_resolver_is_asked_once_and_a_remote_one_only_in_complete():
    local = StubResolver({"8.8.8.8": "US"})
    remote = StubResolver({"9.9.9.9": "CH"}, remote=True)
    cache = GeoCache([local, remote], allow_remote=True)
    prepared = cache.prepare(["8.8.8.8", "9.9.9.9"])
    assert local.calls == [["8.8.8.8", "9.9.9.9"]] and remote.calls == []
    results = cache.complete(prepared)
    assert local.calls == [["8.8.8.8", "9.9.9.9"]]
    assert remote.calls == [["9.9.9.9"]]
    assert (results["8.8.8.8"].country_code, results["9.9.9.9"].country_code) == ("US", "CH")


def test_an_answer_learned_after_prepare_is_used_without_reading_geo_cache():
    resolver = StubResolver({"8.8.8.8": "US"})
    cache = GeoCache([resolver])
    ahead = cache.prepare(["8.8.8.8"])  # a page read ahead
    cache.lookup_batch(["8.8.8.8"])  # the page before it, written first
    with CaptureQueriesContext(connection) as ctx:
        assert cache.complete(ahead)["8.8.8.8"].country_code == "US"
    assert ctx.captured_queries == []
    assert GeoCacheEntry.objects.filter(ip="8.8.8.8").count() == 1
