"""The footer's data credits follow the databases actually open."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from geo import credits, mmdb
from geo.credits import BUNDLED_ASN, BUNDLED_COUNTRY, CREDITS, MAXMIND, credits_for
from geo.mmdb import BUNDLED_ASN_DB, BUNDLED_DB, MmdbResolver

DATA = Path(__file__).resolve().parent / "data"
GEOLITE2_COUNTRY = DATA / "GeoLite2-Country-Test.mmdb"
GEOLITE2_ASN = DATA / "GeoLite2-ASN-Test.mmdb"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db

NRO_TEXT = "IP-to-country data: NRO, CC BY 4.0, via ip-location-db."
ASN_TEXT = ("Network (AS) data: RouteViews, NRO and IP Geolocation by DB-IP, CC BY 4.0, "
            "via ip-location-db.")
MAXMIND_TEXT = ("This product includes GeoLite2 data created by MaxMind, "
                "available from https://www.maxmind.com.")
DBIP_LINK = '<a href="https://db-ip.com">IP Geolocation by DB-IP</a>'
MAXMIND_LINK = '<a href="https://www.maxmind.com">https://www.maxmind.com</a>'


@pytest.fixture
def geo_settings(settings, tmp_path, setup_done):
    settings.GEOIP_PATH = ""
    settings.GEOIP_ASN_PATH = ""
    settings.GEOIP_DOWNLOAD_DIR = str(tmp_path / "geoip")
    settings.GEO_HTTP_FALLBACK = False
    return settings


def footer_credits(client) -> tuple[list[str], str]:
    """The visible text of each data credit in the login page's footer, and
    the footer's HTML."""
    response = client.get(reverse("login"))
    assert response.status_code == 200
    footer = re.search(r'<footer class="site-footer">(.*?)</footer>',
                       response.content.decode(), re.S).group(1)
    lines = re.findall(r'<p class="credits" data-testid="data-credit">(.*?)</p>', footer, re.S)
    return [re.sub(r"<[^>]+>", "", line).strip() for line in lines], footer


def test_bundled_country_only(geo_settings, client, monkeypatch, tmp_path):
    monkeypatch.setattr(mmdb, "BUNDLED_ASN_DB", tmp_path / "not-shipped.mmdb")
    lines, footer = footer_credits(client)
    assert lines == [NRO_TEXT]
    assert '<a href="https://www.nro.net/">NRO</a>' in footer


def test_bundled_country_and_free_asn(geo_settings, client):
    lines, footer = footer_credits(client)
    assert lines == [NRO_TEXT, ASN_TEXT]
    assert DBIP_LINK in footer  # DB-IP's licence: a link back on every page
    assert '<a href="https://www.routeviews.org/">RouteViews</a>' in footer
    assert "MaxMind" not in footer


def test_geolite2_country_and_asn(geo_settings, client):
    geo_settings.GEOIP_PATH = str(GEOLITE2_COUNTRY)
    geo_settings.GEOIP_ASN_PATH = str(GEOLITE2_ASN)
    lines, footer = footer_credits(client)
    assert lines == [MAXMIND_TEXT]  # once, though two GeoLite2 files are open
    assert MAXMIND_LINK in footer
    assert "NRO" not in footer and "DB-IP" not in footer


def test_downloaded_geolite2_country_with_the_free_asn(geo_settings, client):
    downloads = Path(geo_settings.GEOIP_DOWNLOAD_DIR)
    downloads.mkdir()
    shutil.copy(GEOLITE2_COUNTRY, downloads / "GeoLite2-Country.mmdb")
    lines, _ = footer_credits(client)
    assert lines == [MAXMIND_TEXT, ASN_TEXT]


def test_bundled_country_with_geolite2_asn(geo_settings, client):
    geo_settings.GEOIP_ASN_PATH = str(GEOLITE2_ASN)
    lines, _ = footer_credits(client)
    assert lines == [NRO_TEXT, MAXMIND_TEXT]


def test_a_broken_asn_file_has_no_credit(geo_settings, client, tmp_path):
    broken = tmp_path / "asn.mmdb"
    broken.write_bytes(b"junk" * 100)
    geo_settings.GEOIP_ASN_PATH = str(broken)
    lines, _ = footer_credits(client)
    assert lines == [NRO_TEXT]


def test_the_footer_renders_when_geo_cannot_start(geo_settings, client, tmp_path):
    geo_settings.GEOIP_PATH = str(tmp_path / "missing-country.mmdb")
    lines, _ = footer_credits(client)
    assert lines == []


def test_credits_follow_a_replaced_file(tmp_path):
    from geo.tests.conftest import FakeClock

    clock = FakeClock()
    path = tmp_path / "country.mmdb"
    shutil.copy(BUNDLED_DB, path)
    resolver = MmdbResolver(path, BUNDLED_ASN_DB, clock=clock)
    # A copy of the bundled file elsewhere is not recognised by its path
    # (its type, "country", is shared by other ip-location-db builds).
    assert credits_for(resolver.databases().values()) == [BUNDLED_ASN]
    fresh = tmp_path / "fresh.mmdb"
    shutil.copy(GEOLITE2_COUNTRY, fresh)
    fresh.replace(path)
    clock.advance(61)
    resolver.resolve(["81.2.69.142"])
    assert credits_for(resolver.databases().values()) == [MAXMIND, BUNDLED_ASN]


def test_the_bundled_pair(tmp_path):
    resolver = MmdbResolver(BUNDLED_DB, BUNDLED_ASN_DB)
    assert credits_for(resolver.databases().values()) == [BUNDLED_COUNTRY, BUNDLED_ASN]


@pytest.mark.parametrize("credit", CREDITS, ids=lambda c: c.key)
def test_docs_and_notices_quote_every_credit(credit):
    """docs/geo.md lists every line the footer can show (so the docs follow
    geo/credits.py); the NOTICE files quote the bundled files' lines."""
    docs = " ".join((ROOT / "docs" / "geo.md").read_text().split())
    assert credit.text in docs
    notices = {BUNDLED_COUNTRY: "NOTICE", BUNDLED_ASN: "asn.NOTICE"}
    if credit in notices:
        notice = " ".join((ROOT / "geo" / "data" / notices[credit]).read_text().split())
        assert credit.text in notice


def test_the_credit_html_escapes_and_links():
    assert credits.MAXMIND.__html__() == (
        "This product includes GeoLite2 data created by MaxMind, available from "
        f"{MAXMIND_LINK}.")
    assert credits.DBIP.text == "IP Geolocation by DB-IP, CC BY 4.0."
    assert str(credits.DBIP) == (
        f'{DBIP_LINK}, <a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>.')
