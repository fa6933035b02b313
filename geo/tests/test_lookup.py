"""Lookups on the bundled database, local addresses, and instance isolation."""

from __future__ import annotations

import pytest

from geo.cache import GeoCache
from geo.result import SOURCE_LOCAL, SOURCE_MMDB, SOURCE_NONE
from geo.tests.conftest import StubResolver

pytestmark = pytest.mark.django_db

# Checked against the bundled file; stable, long-held allocations.
KNOWN = {
    "8.8.8.8": "US",          # Google DNS
    "1.1.1.1": "AU",          # APNIC/Cloudflare research prefix, registered in AU
    "217.160.0.1": "DE",      # IONOS
    "81.169.145.1": "DE",     # Strato
    "133.242.0.1": "JP",      # Sakura Internet
    "200.147.67.142": "BR",   # UOL
    "193.0.6.139": "NL",      # RIPE NCC
}


@pytest.mark.parametrize(("ip", "country"), KNOWN.items())
def test_it_resolves_known_addresses_on_the_bundled_database(mmdb_cache, ip, country):
    result = mmdb_cache.lookup(ip)
    assert result.country_code == country
    assert result.source == SOURCE_MMDB
    assert result.country_name


def test_it_names_the_country(mmdb_cache):
    assert mmdb_cache.lookup("8.8.8.8").country_name == "United States"
    assert mmdb_cache.lookup("217.160.0.1").country_name == "Germany"


@pytest.mark.parametrize(("ip", "country"), [
    ("2001:4860:4860::8888", "US"),   # Google DNS
    ("2a01:238::1", "DE"),            # Strato
    ("2001:12ff::1", "BR"),           # NIC.br
])
def test_it_resolves_ipv6(mmdb_cache, ip, country):
    assert mmdb_cache.lookup(ip).country_code == country


def test_it_treats_ipv4_mapped_ipv6_as_the_ipv4_address(mmdb_cache):
    result = mmdb_cache.lookup("::ffff:8.8.8.8")
    assert (result.ip, result.country_code) == ("8.8.8.8", "US")


@pytest.mark.parametrize("ip", [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.1.1", "100.64.0.1",
    "0.0.0.0", "240.0.0.1", "255.255.255.255",  # noqa: S104
    "192.0.2.7", "198.51.100.7", "203.0.113.7",
    "224.0.0.1", "::1", "fe80::1", "fc00::1", "2001:db8::1", "::",
])
def test_it_answers_local_for_non_public_addresses_without_a_lookup(ip):
    resolver = StubResolver({ip: "US"})
    cache = GeoCache([resolver])
    result = cache.lookup(ip)
    assert result.source == SOURCE_LOCAL
    assert result.country_code is None
    assert resolver.calls == []


def test_it_answers_none_for_garbage_without_raising(mmdb_cache):
    results = mmdb_cache.lookup_batch(["not-an-ip", "", "999.1.1.1"])
    assert {r.source for r in results.values()} == {SOURCE_NONE}


def test_it_keys_batch_results_by_the_spelling_asked_for(mmdb_cache):
    results = mmdb_cache.lookup_batch(["2001:4860:4860:0::8888", "8.8.8.8", "8.8.8.8"])
    assert set(results) == {"2001:4860:4860:0::8888", "8.8.8.8"}
    assert results["2001:4860:4860:0::8888"].ip == "2001:4860:4860::8888"


def test_it_answers_from_memory_the_second_time():
    resolver = StubResolver({"8.8.8.8": "US"})
    cache = GeoCache([resolver])
    cache.lookup("8.8.8.8")
    cache.lookup("8.8.8.8")
    cache.lookup_batch(["8.8.8.8"])
    assert resolver.calls == [["8.8.8.8"]]


def test_it_asks_resolvers_in_order_and_stops_at_the_first_answer():
    first = StubResolver({"8.8.8.8": "US"})
    second = StubResolver({"8.8.8.8": "CA", "9.9.9.9": "CH"})
    cache = GeoCache([first, second])
    results = cache.lookup_batch(["8.8.8.8", "9.9.9.9"])
    assert results["8.8.8.8"].country_code == "US"
    assert results["9.9.9.9"].country_code == "CH"
    assert second.calls == [["9.9.9.9"]]


def test_two_instances_share_no_state():
    # In memory (geo_cache, shared by design, left out).
    one = GeoCache([StubResolver({"8.8.8.8": "US"})], use_db=False)
    two = GeoCache([StubResolver({"8.8.8.8": "CA"})], use_db=False)
    assert one.lookup("8.8.8.8").country_code == "US"
    assert two.lookup("8.8.8.8").country_code == "CA"
    assert two.stats()["memory"] == 1
    one.clear()
    assert one.stats() == {"memory": 0, "negative": 0, "touches": 0}
    assert two.stats()["memory"] == 1
    assert two.lookup("8.8.8.8").country_code == "CA"


def test_it_puts_failures_in_the_negative_cache_for_five_minutes(clock):
    resolver = StubResolver({})
    cache = GeoCache([resolver], clock=clock)
    assert cache.lookup("8.8.8.8").source == SOURCE_NONE
    assert cache.is_negative("8.8.8.8")
    cache.lookup("8.8.8.8")
    clock.advance(299)
    cache.lookup("8.8.8.8")
    assert len(resolver.calls) == 1
    clock.advance(2)
    resolver.answers["8.8.8.8"] = "US"
    assert cache.lookup("8.8.8.8").country_code == "US"
    assert len(resolver.calls) == 2


def test_it_survives_a_resolver_that_raises(caplog):
    class Broken:
        remote, source = False, "mmdb"

        def resolve(self, ips):
            raise RuntimeError("boom")

    cache = GeoCache([Broken(), StubResolver({"8.8.8.8": "US"})])
    assert cache.lookup("8.8.8.8").country_code == "US"


def test_it_stays_within_its_memory_bound():
    answers = {f"8.8.{i // 256}.{i % 256}": "US" for i in range(300)}
    cache = GeoCache([StubResolver(answers)], max_entries=100)
    cache.lookup_batch(list(answers))
    cache.lookup_batch(["9.9.9.9"])
    assert cache.stats()["memory"] <= 100


def test_the_ipv4_fast_path_agrees_with_the_standard_library():
    import ipaddress
    import random

    from geo.result import _is_local_slow, is_local

    rng = random.Random(7)
    samples = [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(20000)]
    samples += [ipaddress.IPv4Address((octet << 24) | low)
                for octet in range(256) for low in (0, 1, 0xFFFFFF)]
    assert [is_local(a) for a in samples] == [_is_local_slow(a) for a in samples]


def test_the_task_worker_holds_fewer_addresses_in_memory(monkeypatch):
    """django-q2's post_spawn (geo.apps) lowers the worker's bound: it
    resolves in batches from geo_cache and used to keep every imported
    address (~60 MiB at the 200,000 pages keep)."""
    import atexit
    import multiprocessing.util

    from django.apps import apps

    from geo import cache as cache_module

    config = apps.get_app_config("geo")
    monkeypatch.setattr(config, "_cache", GeoCache([]))
    monkeypatch.setattr(atexit, "register", lambda *a, **k: None)
    monkeypatch.setattr(multiprocessing.util, "Finalize", lambda *a, **k: None)
    assert config.get_cache().max_entries == cache_module.MAX_ENTRIES
    config._on_worker_spawn(sender=None)
    assert config.get_cache().max_entries == cache_module.WORKER_MAX_ENTRIES
    assert cache_module.WORKER_MAX_ENTRIES < cache_module.MAX_ENTRIES
