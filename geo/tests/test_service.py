from __future__ import annotations

import pytest
from django.apps import apps

from geo.cache import GeoCache
from geo.mmdb import asn_of, country_code_of
from geo.service import get_cache


def test_get_cache_returns_one_instance_held_on_the_app_config():
    cache = get_cache()
    assert isinstance(cache, GeoCache)
    assert get_cache() is cache
    assert apps.get_app_config("geo")._cache is cache
    assert cache.allow_remote is False


@pytest.mark.django_db
def test_the_process_cache_answers_out_of_the_box():
    assert get_cache().lookup_cached_only(["8.8.8.8"])["8.8.8.8"].country_code == "US"


def test_the_worker_hook_allows_remote_lookups_only_when_configured(settings, monkeypatch):
    from django_q.signals import post_spawn

    registered = []
    # Not in the pytest process itself: at its exit the test database is gone
    # and the flush would only print a "Logging error".
    monkeypatch.setattr("geo.apps.atexit.register", lambda *a: registered.append(a))
    monkeypatch.setattr("geo.apps.multiprocessing.util.Finalize",
                        lambda *a, **k: registered.append(a))
    cache = get_cache()
    try:
        settings.GEO_HTTP_FALLBACK = False
        post_spawn.send(sender="django_q", proc_name="Process-1")
        assert cache.allow_remote is False
        settings.GEO_HTTP_FALLBACK = True
        post_spawn.send(sender="django_q", proc_name="Process-1")
        assert cache.allow_remote is True
        assert len(registered) == 4  # a flush at exit, both ways, per spawn
    finally:
        cache.allow_remote = False


@pytest.mark.parametrize(("record", "code"), [
    ({"country": {"iso_code": "DE", "names": {"en": "Germany"}}}, "DE"),  # GeoLite2
    ({"registered_country": {"iso_code": "US"}}, "US"),  # GeoLite2, anycast
    ({"country_code": "JP"}, "JP"),  # ip-location-db, DB-IP lite
    ({"country": "BR", "asn": "AS123"}, "BR"),  # ipinfo lite
    ({"country": {"iso_code": "None"}}, None),  # Geoacumen's "no country"
    (None, None),
])
def test_it_reads_country_codes_in_every_common_shape(record, code):
    assert country_code_of(record) == code


@pytest.mark.parametrize(("record", "expected"), [
    ({"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"},
     (15169, "GOOGLE")),
    ({"asn": "AS13335", "as_name": "Cloudflare"}, (13335, "Cloudflare")),
    ({"country_code": "US"}, (None, None)),
])
def test_it_reads_asn_and_organisation(record, expected):
    assert asn_of(record) == expected


@pytest.mark.django_db
def test_the_worker_exit_hook_flushes_the_dirty_set():
    from geo.apps import _flush_on_exit
    from geo.models import GeoCacheEntry
    from geo.tests.conftest import StubResolver

    cache = GeoCache([StubResolver({"8.8.8.8": "US"})])
    cache.lookup("8.8.8.8")
    _flush_on_exit(cache)
    assert GeoCacheEntry.objects.filter(ip="8.8.8.8", country_code="US").exists()
