"""The world map page: aggregation, colour classes, page and fragments."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from geo.shapes import shapes
from jails.archive.map_data import band_of, bands, bans_by_country, world_map
from jails.models import BanEvent

pytestmark = pytest.mark.django_db

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def ban(ip: str, country: str | None, *, ago: timedelta = timedelta(hours=1),
        origin: str = "detected", jail: str = "sshd") -> BanEvent:
    return BanEvent.objects.create(ip=ip, jail=jail, country_code=country, origin=origin,
                                   banned_at=timezone.now() - ago, bantime=600)


def writes(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if WRITE.match(q["sql"])]


# --- aggregation -----------------------------------------------------------------
def test_it_counts_bans_per_country_in_the_window():
    ban("192.0.2.1", "DE")
    ban("192.0.2.1", "DE", jail="nginx")
    ban("192.0.2.2", "DE", ago=timedelta(days=3))
    ban("198.51.100.1", "US", ago=timedelta(hours=2))
    ban("203.0.113.9", None)
    ban("203.0.113.10", "FR", ago=timedelta(days=40))  # outside 30d

    day = {c.code: c.bans for c in bans_by_country("24h")}
    assert day == {"DE": 2, "US": 1, None: 1}
    week = {c.code: c.bans for c in bans_by_country("7d")}
    assert week == {"DE": 3, "US": 1, None: 1}
    assert "FR" not in {c.code for c in bans_by_country("30d")}
    assert {c.code: c.bans for c in bans_by_country("365d")}["FR"] == 1


def test_it_filters_by_origin():
    ban("192.0.2.1", "DE", origin="manual")
    ban("192.0.2.2", "DE")
    ban("192.0.2.3", "CN", origin="blocklist")

    assert [(c.code, c.bans) for c in bans_by_country("24h", "manual")] == [("DE", 1)]
    assert [(c.code, c.bans) for c in bans_by_country("24h", "blocklist")] == [("CN", 1)]
    assert [(c.code, c.bans) for c in bans_by_country("24h", "detected")] == [("DE", 1)]


def test_it_sorts_most_bans_first_and_puts_unknown_in_its_own_row():
    for i in range(3):
        ban(f"192.0.2.{i}", "CN")
    ban("192.0.2.50", "BR")
    ban("192.0.2.60", None)
    ban("192.0.2.61", None)

    data = world_map("24h")
    assert [(c.code, c.bans) for c in data.top] == [("CN", 3), ("BR", 1)]
    assert data.top[0].name == "China"
    assert (data.unknown.name, data.unknown.bans) == ("Unknown", 2)
    assert data.total_bans == 6
    assert data.countries_with_bans == 2


def test_it_makes_log_scale_classes_with_nice_bounds():
    classes = bands(50_000)
    assert [(b.low, b.high) for b in classes] == [
        (1, 10), (11, 100), (101, 1000), (1001, 10_000), (10_001, 50_000)]
    assert classes[-1].label == "10,001\u201350,000"
    assert [(b.low, b.high) for b in bands(3)] == [(1, 2), (3, 3)]
    assert bands(0) == ()
    assert [band_of(n, classes) for n in (0, 1, 10, 11, 50_000)] == [0, 1, 1, 2, 5]


def test_it_loads_shapes_once_with_iso_codes():
    assert shapes() is shapes()
    codes = {s.code for s in shapes().countries}
    assert {"DE", "US", "CN", "RU", "BR", "SG", "MT", "XK"} <= codes
    assert "AQ" not in codes
    assert all(re.fullmatch(r"[A-Z]{2}", c) for c in codes)


# --- page and fragments -------------------------------------------------------------
def test_it_colours_countries_with_archived_bans(admin_client):
    for i in range(20):
        ban(f"192.0.2.{i}", "CN", ago=timedelta(days=100))
    ban("198.51.100.1", "DE", ago=timedelta(days=100))

    response = admin_client.get("/map/?window=365d")
    html = response.content.decode()

    assert response.status_code == 200
    assert "<svg" in html
    cn = re.search(r'<a [^>]*data-country="CN"[^>]*>\s*<path class="map-c(\d)"', html)
    de = re.search(r'<a [^>]*data-country="DE"[^>]*>\s*<path class="map-c(\d)"', html)
    assert cn and de
    assert int(cn.group(1)) > int(de.group(1)) >= 1
    assert re.search(r'<path class="map-c0" data-country="FR"', html)
    assert "China: 20 bans" in html
    assert 'href="/map/?window=365d&amp;country=CN"' in html
    assert "style=" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "Natural Earth" in html  # credits


def test_it_lists_the_top_countries_and_unknown_beside_the_map(admin_client):
    ban("192.0.2.1", "JP")
    ban("192.0.2.2", None)

    html = admin_client.get("/map/").content.decode()

    top = html.split('id="map-top-heading"', 1)[1].split("</table>", 1)[0]
    assert "Japan" in top
    assert "Unknown" in top
    assert "country=unknown" in top


def test_it_serves_the_country_table_fragment_to_htmx_and_the_page_otherwise(admin_client):
    ban("192.0.2.7", "DE")
    ban("198.51.100.8", "US")

    page = admin_client.get("/map/?country=DE")
    fragment = admin_client.get("/map/?country=DE", HTTP_HX_REQUEST="true",
                                HTTP_HX_TARGET="map-bans")

    assert page.status_code == fragment.status_code == 200
    assert "<html" in page.content.decode()
    assert "192.0.2.7" in page.content.decode()
    body = fragment.content.decode()
    assert "<html" not in body and "<svg" not in body
    assert body.lstrip().startswith('<section id="map-bans"')
    assert "Bans from Germany" in body
    assert "192.0.2.7" in body and "198.51.100.8" not in body
    assert 'id="map-country" value="DE" hx-swap-oob="true"' in body
    for response in (page, fragment):
        assert "HX-Request" in response["Vary"]


def test_it_serves_the_map_view_fragment_for_the_filters(admin_client):
    ban("192.0.2.7", "DE", origin="manual")

    response = admin_client.get("/map/?window=7d&origin=manual", HTTP_HX_REQUEST="true",
                                HTTP_HX_TARGET="map-view")
    body = response.content.decode()

    assert body.lstrip().startswith('<div id="map-view"')
    assert "<svg" in body and "<html" not in body
    assert "Germany: 1 ban" in body
    assert "window=7d&amp;origin=manual&amp;country=DE" in body


def test_it_gives_a_history_restore_request_the_whole_page(admin_client):
    response = admin_client.get("/map/?country=DE", HTTP_HX_REQUEST="true",
                                HTTP_HX_TARGET="map-bans", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


def test_it_writes_nothing_while_rendering(admin_client):
    for i in range(5):
        ban(f"192.0.2.{i}", "NL" if i % 2 else None)
    admin_client.get("/map/")  # warm up whatever a first request loads

    with CaptureQueriesContext(connection) as ctx:
        admin_client.get("/map/?window=365d")
        admin_client.get("/map/?country=NL", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="map-bans")
        admin_client.get("/map/?origin=manual", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="map-view")

    assert writes(ctx) == []


def test_it_runs_three_grouped_queries_for_the_map_then_one(admin_client):
    """Cold: the rollup's whole days, the archive's settled whole hours of
    the edge days, the rest of the edges (the current hour, the window's
    first partial hour). Within the views' minute only the rest is read."""
    ban("192.0.2.1", "DE")
    with CaptureQueriesContext(connection) as ctx:
        world_map("365d")
    tables = [q["sql"] for q in ctx.captured_queries]
    assert len(tables) == 3
    assert all("GROUP BY" in sql.upper() for sql in tables)
    assert "jails_banday" in tables[0]
    assert "jails_banevent" in tables[1] and "jails_banevent" in tables[2]
    with CaptureQueriesContext(connection) as ctx:
        world_map("365d")
    assert [("jails_banevent" in q["sql"]) for q in ctx.captured_queries] == [True]


def test_it_lets_a_viewer_see_the_map(viewer_client):
    ban("192.0.2.1", "DE")
    response = viewer_client.get("/map/?country=DE")
    assert response.status_code == 200
    assert "Bans from Germany" in response.content.decode()


def test_it_sends_anonymous_users_to_the_login(client, setup_done):
    response = client.get("/map/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("query", [
    "country=ZZZ", "country=<script>", "country=1", "window=1y", "origin=robots",
    "page=-3", "page=abc", "window=365d&country=d%C3%A9",
])
def test_it_explains_or_ignores_bad_input_and_never_fails(admin_client, query):
    ban("192.0.2.1", "DE")
    page = admin_client.get(f"/map/?{query}")
    fragment = admin_client.get(f"/map/?{query}", HTTP_HX_REQUEST="true",
                                HTTP_HX_TARGET="map-bans")
    assert page.status_code == fragment.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "<script>" not in html.split("<main", 1)[1]
    if "country" in query:
        assert "is not a country code" in html


def test_it_shows_an_empty_country_with_a_sentence(admin_client):
    response = admin_client.get("/map/?country=is&window=30d")
    html = response.content.decode()
    assert "No bans from Iceland in the last 30 days." in html
