"""The token page in a real Chromium: a new token is shown once, works
with curl's header, and is gone from the page on the next visit; no
console error on the way."""

from __future__ import annotations

import urllib.request

import pytest
from playwright.sync_api import expect

from conftest import console_errors, login_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_token_is_shown_once(page, live_server, operator_user, tmp_path):
    errors = console_errors(page)
    login_page(page, live_server, operator_user, next_path="/")
    # The user menu leads to the token page; the dashboard offers its export.
    expect(page.get_by_test_id("ban-export").or_(page.get_by_test_id("empty"))).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(tmp_path / "header-390.png"))
    page.locator("label.nav-toggle-label").click()  # the menu, folded on a phone
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API", exact=True).click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(tmp_path / "tokens-1280.png"))
    page.get_by_label("Name").fill("grafana")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_test_id("new-token")
    expect(shown).to_be_visible()
    secret = shown.inner_text().strip()
    assert secret.startswith("bgi_")
    request = urllib.request.Request(f"{live_server.url}/api/v1/bans/",  # noqa: S310
                                     headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200
    page.goto(f"{live_server.url}/api/tokens/")
    expect(page.get_by_role("cell", name="grafana")).to_be_visible()
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked token")).to_be_visible()
    assert errors == []
