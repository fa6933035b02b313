"""The world map in a real Chromium: colours, hover text, click to list bans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import login_page
from jails.models import BanEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_colours_countries_shows_counts_and_loads_a_country_on_click(
        page: Page, live_server, viewer_user, tmp_path, settings):
    settings.FAIL2BAN_SOCKET = str(tmp_path / "absent.sock")  # status bar: quick "unreachable"
    when = timezone.now() - timedelta(days=20)
    BanEvent.objects.bulk_create(
        [BanEvent(ip=f"192.0.2.{i}", jail="sshd", banned_at=when, bantime=600,
                  country_code="BR") for i in range(12)]
        + [BanEvent(ip="198.51.100.4", jail="sshd", banned_at=when, bantime=600,
                    country_code="DE", origin="manual")])

    login_page(page, live_server, viewer_user, next_path="/map/?window=30d")
    world = page.get_by_test_id("world-map")
    expect(world).to_be_visible()

    brazil = world.locator('a[data-country="BR"]')
    expect(brazil).to_have_attribute("aria-label", "Brazil: 12 bans")
    expect(brazil.locator("path")).to_have_class("map-c4")  # classes 1-2, 3-5, 6-10, 11-12
    expect(world.locator('a[data-country="DE"] path')).to_have_class("map-c1")
    expect(world.locator('path[data-country="FR"]')).to_have_class("map-c0")
    expect(brazil.locator("title")).to_have_text("Brazil: 12 bans")
    # The colour comes from the stylesheet (no inline styles): filled, not black.
    fill = brazil.locator("path").evaluate("el => getComputedStyle(el).fill")
    assert fill not in ("rgb(0, 0, 0)", "none")

    brazil.hover()
    brazil.click()
    bans = page.locator("#map-bans")
    expect(bans).to_contain_text("Bans from Brazil")
    expect(bans.locator("tbody tr")).to_have_count(12)
    expect(page).to_have_url(live_server.url + "/map/?window=30d&country=BR")
    expect(page.locator("#map-country")).to_have_value("BR")

    # Changing the window keeps the country and redraws map and table.
    page.get_by_label("Origin").select_option("manual")
    expect(bans).to_contain_text("No bans from Brazil")
    expect(world.locator('a[data-country="DE"]')).to_have_attribute(
        "aria-label", "Germany: 1 ban")
    expect(page).to_have_url(live_server.url + "/map/?window=30d&origin=manual&country=BR")

    # Keyboard: a country with bans is a focusable link.
    page.locator('#map-view a[data-country="DE"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#map-bans")).to_contain_text("198.51.100.4")
