"""Which reader reads which file (geoip2 for MaxMind types, maxminddb for the
rest), the bundled free ASN file, ASN precedence, and an ASN file that is
missing or broken."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import geoip2.database
import maxminddb
import pytest
from django.urls import reverse

from geo.mmdb import (
    BUNDLED_ASN_DB,
    BUNDLED_DB,
    READER_GEOIP2,
    READER_MAXMINDDB,
    MmdbResolver,
    geoip2_method,
)
from geo.service import build_cache, get_cache
from geo.tests.conftest import FakeClock

DATA = Path(__file__).resolve().parent / "data"
GEOLITE2_COUNTRY = DATA / "GeoLite2-Country-Test.mmdb"
GEOLITE2_CITY = DATA / "GeoLite2-City-Test.mmdb"
GEOLITE2_ASN = DATA / "GeoLite2-ASN-Test.mmdb"

pytestmark = pytest.mark.django_db  # lookup_cached_only reads geo_cache


@pytest.fixture
def geo_settings(settings, tmp_path):
    """No licence key, nothing configured, nothing downloaded."""
    settings.GEOIP_PATH = ""
    settings.GEOIP_ASN_PATH = ""
    settings.GEOIP_DOWNLOAD_DIR = str(tmp_path / "geoip")
    settings.GEO_HTTP_FALLBACK = False
    return settings


def _network(body: str) -> str:
    """The text of the IP page's Network fact."""
    match = re.search(r"<dt>Network</dt>\s*<dd>(.*?)</dd>", body, re.S)
    assert match, "no Network row"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


# --- the bundled files: plain maxminddb, ASN with no licence key ------------------
def test_the_bundled_files_are_read_with_the_plain_maxminddb_reader():
    resolver = MmdbResolver(BUNDLED_DB, BUNDLED_ASN_DB)
    assert resolver.reader_kinds() == {"country": READER_MAXMINDDB, "asn": READER_MAXMINDDB}
    assert not isinstance(resolver._country.reader, geoip2.database.Reader)
    # geoip2's own type check refuses the bundled country file:
    with pytest.raises(TypeError, match="cannot be used with the country ipvAll database"):
        geoip2.database.Reader(str(BUNDLED_DB)).country("8.8.8.8")


@pytest.mark.parametrize(("ip", "country", "asn", "org"), [
    ("8.8.8.8", "US", 15169, "Google LLC"),
    ("1.1.1.1", "AU", 13335, "Cloudflare, Inc."),
    ("193.0.6.139", "NL", 3333, "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)"),
    ("2001:4860:4860::8888", "US", 15169, "Google LLC"),
    ("2a01:238::1", "DE", 6724, "Strato AG"),
])
def test_without_a_licence_key_every_public_address_gets_its_network(
    geo_settings, ip, country, asn, org
):
    cache = build_cache()
    result = cache.lookup_cached_only([ip])[ip]
    assert (result.country_code, result.asn, result.org) == (country, asn, org)
    assert cache.resolvers[0].asn_path == BUNDLED_ASN_DB


def test_the_ip_page_shows_the_network_with_no_licence_key(geo_settings, admin_client, tmp_path):
    geo_settings.FAIL2BAN_SOCKET = str(tmp_path / "no-fail2ban.sock")
    body = admin_client.get(reverse("ip_detail", args=["8.8.8.8"])).content.decode()
    assert _network(body) == "AS15169 Google LLC"
    body = admin_client.get(reverse("ip_detail", args=["2a01:238::1"])).content.decode()
    assert _network(body) == "AS6724 Strato AG"


# --- MaxMind-typed files: geoip2 -------------------------------------------------
@pytest.mark.parametrize(("database_type", "role", "method"), [
    ("GeoLite2-Country", "country", "country"),
    ("GeoLite2-City", "country", "city"),
    ("GeoIP2-Country", "country", "country"),
    ("GeoIP2-City", "country", "city"),
    ("GeoIP2-Enterprise", "country", "enterprise"),
    ("GeoLite2-ASN", "asn", "asn"),
    ("GeoIP2-ISP", "asn", "isp"),
    ("GeoLite2-ASN", "country", None),       # not a country file
    ("country ipvAll", "country", None),  # the bundled file, ip-location-db's builds
    ("ip-location-db-ASN", "asn", None),    # the bundled free ASN file
    ("DBIP-Country-Lite", "country", None),  # DB-IP: its own record shape
    ("DBIP-ASN-Lite (compat=GeoLite2-ASN)", "asn", None),
])
def test_only_maxmind_types_go_to_geoip2(database_type, role, method):
    assert geoip2_method(database_type, role) == method


def test_a_geolite2_country_file_is_read_with_geoip2():
    resolver = MmdbResolver(GEOLITE2_COUNTRY)
    assert resolver.reader_kinds() == {"country": READER_GEOIP2}
    assert isinstance(resolver._country.reader, geoip2.database.Reader)
    out = resolver.resolve(["81.2.69.142", "89.160.20.112", "2001:218::1", "8.8.8.8", "nope"])
    assert out["81.2.69.142"].country_code == "GB"  # country, not registered_country (US)
    assert out["89.160.20.112"].country_code == "SE"
    assert out["2001:218::1"].country_code == "JP"
    assert out["8.8.8.8"] is None  # geoip2's AddressNotFoundError
    assert out["nope"] is None


def test_a_geolite2_city_file_is_read_with_geoip2_city():
    resolver = MmdbResolver(GEOLITE2_CITY)
    assert resolver.reader_kinds() == {"country": READER_GEOIP2}
    assert resolver._country.db.lookup("81.2.69.142") == ("GB", None, None)


def test_a_geolite2_asn_file_is_read_with_geoip2_asn():
    resolver = MmdbResolver(BUNDLED_DB, GEOLITE2_ASN)
    assert resolver.reader_kinds() == {"country": READER_MAXMINDDB, "asn": READER_GEOIP2}
    result = resolver.resolve(["1.128.0.1"])["1.128.0.1"]
    assert (result.country_code, result.asn, result.org) == ("AU", 1221, "Telstra Pty Ltd")
    # an address GeoLite2-ASN does not know: the country, no network
    result = resolver.resolve(["217.160.0.1"])["217.160.0.1"]
    assert (result.country_code, result.asn, result.org) == ("DE", None, None)


# --- which ASN file -------------------------------------------------------------
def test_a_configured_geolite2_asn_file_wins_over_the_free_one(geo_settings):
    # 1.0.0.0/24 is Google in MaxMind's made-up test data, Cloudflare in the free data
    assert build_cache().lookup_cached_only(["1.0.0.1"])["1.0.0.1"].asn == 13335
    geo_settings.GEOIP_ASN_PATH = str(GEOLITE2_ASN)
    result = build_cache().lookup_cached_only(["1.0.0.1"])["1.0.0.1"]
    assert (result.asn, result.org) == (15169, "Google Inc.")


def test_a_downloaded_geolite2_asn_file_wins_over_the_free_one(geo_settings, tmp_path):
    downloads = Path(geo_settings.GEOIP_DOWNLOAD_DIR)
    downloads.mkdir()
    shutil.copy(GEOLITE2_ASN, downloads / "GeoLite2-ASN.mmdb")
    cache = build_cache()
    assert cache.resolvers[0].asn_path == downloads / "GeoLite2-ASN.mmdb"
    assert cache.lookup_cached_only(["1.0.0.1"])["1.0.0.1"].asn == 15169


# --- a missing or broken ASN file: ASN unknown, nothing fails ---------------------
def test_a_missing_asn_file_leaves_the_asn_unknown(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="geo.mmdb"):
        resolver = MmdbResolver(BUNDLED_DB, tmp_path / "missing.mmdb")
    result = resolver.resolve(["8.8.8.8"])["8.8.8.8"]
    assert (result.country_code, result.asn, result.org) == ("US", None, None)
    assert resolver.reader_kinds() == {"country": READER_MAXMINDDB}
    assert "no asn database" in caplog.text


@pytest.mark.parametrize("body", [b"", b"not a database at all" * 100,
                                  BUNDLED_ASN_DB.read_bytes()[:200_000]])
def test_a_corrupt_asn_file_leaves_the_asn_unknown(tmp_path, body):
    broken = tmp_path / "asn.mmdb"
    broken.write_bytes(body)
    resolver = MmdbResolver(BUNDLED_DB, broken)
    result = resolver.resolve(["8.8.8.8", "2001:4860:4860::8888"])
    assert {(r.country_code, r.asn) for r in result.values()} == {("US", None)}


def test_the_ip_page_says_unknown_network_when_the_asn_file_is_broken(
    geo_settings, admin_client, tmp_path
):
    broken = tmp_path / "GeoLite2-ASN.mmdb"
    broken.write_bytes(b"\x00" * 4096)
    geo_settings.GEOIP_ASN_PATH = str(broken)
    geo_settings.FAIL2BAN_SOCKET = str(tmp_path / "no-fail2ban.sock")
    response = admin_client.get(reverse("ip_detail", args=["8.8.8.8"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert _network(body) == "unknown"
    assert "United States" in body


def test_an_asn_file_that_appears_later_is_picked_up(tmp_path):
    clock = FakeClock()
    path = tmp_path / "asn.mmdb"
    resolver = MmdbResolver(BUNDLED_DB, path, clock=clock)
    assert resolver.resolve(["8.8.8.8"])["8.8.8.8"].asn is None
    shutil.copy(BUNDLED_ASN_DB, path)
    assert resolver.resolve(["8.8.8.8"])["8.8.8.8"].asn is None  # not checked yet
    clock.advance(61)
    assert resolver.resolve(["8.8.8.8"])["8.8.8.8"].asn == 15169


def test_a_replaced_file_may_change_reader(tmp_path):
    """geoip_update replacing the file with a MaxMind one: geoip2 from then on."""
    clock = FakeClock()
    path = tmp_path / "country.mmdb"
    shutil.copy(BUNDLED_DB, path)
    resolver = MmdbResolver(path, clock=clock)
    assert resolver.reader_kinds() == {"country": READER_MAXMINDDB}
    fresh = tmp_path / "fresh.mmdb"
    shutil.copy(GEOLITE2_COUNTRY, fresh)
    fresh.replace(path)
    clock.advance(61)
    assert resolver.resolve(["81.2.69.142"])["81.2.69.142"].country_code == "GB"
    assert resolver.reader_kinds() == {"country": READER_GEOIP2}
    assert resolver.databases()["country"].database_type == "GeoLite2-Country"


def test_the_process_cache_uses_the_free_asn_file(geo_settings):
    resolver = get_cache().resolvers[0]
    assert resolver.asn_path == BUNDLED_ASN_DB
    assert isinstance(resolver._asn.reader, maxminddb.extension.Reader | maxminddb.reader.Reader)
