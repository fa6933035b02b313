"""The ip-api fallback: batching, rate limit, failures, and never from a page view."""

from __future__ import annotations

import pytest

from geo.cache import GeoCache
from geo.http import IpApiResolver, RateLimiter
from geo.result import SOURCE_HTTP, SOURCE_NONE
from geo.tests.conftest import StubResolver

pytestmark = pytest.mark.django_db


def _ips(n: int, third: int = 0) -> list[str]:
    return [f"8.{third}.{i // 250}.{i % 250 + 1}" for i in range(n)]


def _cache(server, *, clock, local=None, allow_remote=True) -> GeoCache:
    http = IpApiResolver(server.url, limiter=RateLimiter(clock=clock), timeout=5)
    return GeoCache([local or StubResolver({}), http], allow_remote=allow_remote, clock=clock)


def test_it_resolves_through_the_fallback_when_the_mmdb_has_no_answer(ipapi_server, clock):
    ipapi_server.countries = {"8.0.0.1": "JP"}
    cache = _cache(ipapi_server, clock=clock)
    result = cache.lookup("8.0.0.1")
    assert (result.country_code, result.source) == ("JP", SOURCE_HTTP)
    assert (result.asn, result.org) == (64500, "Example")


def test_it_sends_at_most_100_addresses_per_call(ipapi_server, clock):
    ips = _ips(250)
    ipapi_server.countries = dict.fromkeys(ips, "US")
    cache = _cache(ipapi_server, clock=clock)
    results = cache.lookup_batch(ips)
    assert [len(r) for r in ipapi_server.requests] == [100, 100, 50]
    assert {r.country_code for r in results.values()} == {"US"}


def test_it_makes_at_most_15_calls_a_minute(ipapi_server, clock):
    cache = _cache(ipapi_server, clock=clock)
    ips = _ips(2000)
    ipapi_server.countries = dict.fromkeys(ips, "US")
    cache.lookup_batch(ips)
    assert len(ipapi_server.requests) == 15
    assert cache.stats()["negative"] == 0  # the rest was deferred, not failed

    clock.advance(30)
    cache.lookup_batch(ips[1500:1600])
    assert len(ipapi_server.requests) == 15

    clock.advance(31)
    cache.lookup_batch(ips[1500:1600])
    assert len(ipapi_server.requests) == 16


def test_it_never_calls_the_fallback_from_lookup_cached_only(ipapi_server, clock):
    ipapi_server.countries = {"8.0.0.1": "JP"}
    cache = _cache(ipapi_server, clock=clock)
    results = cache.lookup_cached_only(["8.0.0.1", "8.0.0.2"])
    assert ipapi_server.requests == []
    assert results["8.0.0.1"].source == SOURCE_NONE


def test_it_never_calls_the_fallback_unless_remote_lookups_are_allowed(ipapi_server, clock):
    ipapi_server.countries = {"8.0.0.1": "JP"}
    cache = _cache(ipapi_server, clock=clock, allow_remote=False)
    assert cache.lookup("8.0.0.1").source == SOURCE_NONE
    assert cache.lookup_batch(["8.0.0.2"])["8.0.0.2"].source == SOURCE_NONE
    assert ipapi_server.requests == []
    assert cache.lookup_batch(["8.0.0.3"], remote=True)["8.0.0.3"].source == SOURCE_NONE
    assert len(ipapi_server.requests) == 1


def test_the_default_cache_never_reaches_the_fallback_outside_the_worker(ipapi_server, settings):
    from geo.service import build_cache

    settings.GEO_HTTP_FALLBACK = True
    settings.GEO_HTTP_URL = ipapi_server.url
    cache = build_cache()
    assert cache.allow_remote is False
    cache.lookup_cached_only(["8.0.0.1"])
    cache.lookup_batch(["8.0.0.2"])
    assert ipapi_server.requests == []


def test_it_puts_a_failed_batch_in_the_negative_cache(ipapi_server, clock):
    ipapi_server.status = 500
    cache = _cache(ipapi_server, clock=clock)
    assert cache.lookup_batch(_ips(3))["8.0.0.1"].source == SOURCE_NONE
    assert len(ipapi_server.requests) == 1
    assert all(cache.is_negative(ip) for ip in _ips(3))

    ipapi_server.status = 200
    ipapi_server.countries = dict.fromkeys(_ips(3), "US")
    cache.lookup_batch(_ips(3))
    assert len(ipapi_server.requests) == 1
    clock.advance(301)
    assert cache.lookup_batch(_ips(3))["8.0.0.1"].country_code == "US"
    assert len(ipapi_server.requests) == 2


def test_it_treats_an_unreachable_server_as_a_failure(clock):
    http = IpApiResolver("http://127.0.0.1:9/batch", limiter=RateLimiter(clock=clock), timeout=2)
    cache = GeoCache([http], allow_remote=True, clock=clock)
    assert cache.lookup("8.0.0.1").source == SOURCE_NONE
    assert cache.is_negative("8.0.0.1")


def test_the_rate_limiter_pauses_when_the_server_says_so(clock):
    limiter = RateLimiter(calls=15, period=60, clock=clock)
    assert limiter.try_acquire()
    limiter.block_for(10)
    assert not limiter.try_acquire()
    clock.advance(10)
    assert limiter.try_acquire()
