"""The theme switch in a real Chromium: auto (as the system), light, dark,
and back to auto, which forgets the choice (#28: it could not return to
auto). The choice outlives a page load."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conftest import login_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _theme(page: Page) -> str | None:
    return page.evaluate("document.documentElement.getAttribute('data-theme')")


def _background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_switch_cycles_auto_light_dark_and_back_to_auto(page: Page, live_server,
                                                            operator_user):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.emulate_media(color_scheme="dark")
    login_page(page, live_server, operator_user, next_path="/blocklists/")
    switch = page.locator("[data-theme-switch]")
    dark_system = _background(page)
    expect(switch).to_have_attribute("title", "Theme: auto (as the system); switch to light")
    assert _theme(page) is None

    switch.click()
    expect(switch).to_have_attribute("title", "Theme: light; switch to dark")
    assert _theme(page) == "light" and _background(page) != dark_system
    page.reload()
    assert _theme(page) == "light"  # remembered

    switch.click()
    expect(switch).to_have_attribute("title", "Theme: dark; switch to auto")
    assert _theme(page) == "dark" and _background(page) == dark_system

    switch.click()
    expect(switch).to_have_attribute("title", "Theme: auto (as the system); switch to light")
    assert _theme(page) is None
    assert page.evaluate("localStorage.getItem('bangui-theme')") is None
    page.emulate_media(color_scheme="light")
    assert _background(page) != dark_system  # follows the system again
    page.reload()
    assert _theme(page) is None
    assert errors == []
