"""Through a real Chromium: an admin adds a user with a role on /accounts/users/,
changes it, and hands out a set-password link; the page reads in light,
dark and on a 390 px phone (screenshots under $BANGUI_TEST_SHOTS)."""

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from accounts import roles
from accounts.tests.conftest import ensure_roles
from conftest import TEST_PASSWORD, console_errors, login_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_a_user_with_a_role(page: Page, live_server, admin_user):
    ensure_roles()
    errors = console_errors(page)
    login_page(page, live_server, admin_user, next_path="/")
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()

    page.get_by_label("Username").fill("night-support")
    page.get_by_label("Role").select_option("support")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_label("Password again").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Add user").click()

    expect(page.locator(".messages")).to_contain_text("Created night-support (support).")
    row = page.get_by_test_id("user-night-support")
    expect(row.get_by_label("Role of night-support")).to_have_value("support")
    expect(row).to_contain_text("active")
    user = get_user_model().objects.get(username="night-support")
    assert roles.role_of(user) == "support"

    # A second user without a password: the link is on the page, once.
    page.get_by_label("Username").fill("late-viewer")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_test_id("password-link")).to_contain_text(
        "Set-password link for late-viewer")
    link = page.get_by_label("Set-password link for late-viewer").input_value()
    assert link.startswith(f"{live_server.url}/accounts/set-password/")
    expect(page.get_by_test_id("user-late-viewer")).to_contain_text("no password yet")

    # Change a role in its row.
    row = page.get_by_test_id("user-night-support")
    row.get_by_label("Role of night-support").select_option("operator")
    row.get_by_role("button", name="Set role").click()
    expect(page.locator(".messages")).to_contain_text("night-support is now operator.")

    shots = os.environ.get("BANGUI_TEST_SHOTS")
    for name, scheme, width in (("light", "light", 1280), ("dark", "dark", 1280),
                                ("phone", "light", 390)):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": 900})
        expect(page.get_by_test_id("users")).to_be_visible()
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/users-{name}.png", full_page=True)
    assert errors == []
