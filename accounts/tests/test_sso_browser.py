"""Through a real Chromium: the login page with the SSO button, an SSO login
at the real test provider, TOTP enrolment and a login with the code.
Screenshots (light, dark, 390 px) go to the test's tmp dir."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from accounts import roles
from accounts.tests.conftest import ensure_roles
from accounts.tests.test_mfa import totp
from conftest import TEST_PASSWORD, login_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _our_console_errors(page: Page, origin: str) -> list[str]:
    """Console and page errors on BanGUI's pages (the provider's own page is not ours)."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"{m.text} @ {m.location.get('url')}")
            if m.type == "error" and str(m.location.get("url", "")).startswith(origin)
            else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    return seen


def _shots(page: Page, path, name: str) -> None:
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(path / f"{name}-light.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(path / f"{name}-dark.png"), full_page=True)
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(path / f"{name}-390.png"), full_page=True)
    page.set_viewport_size(size)
    page.emulate_media(color_scheme="light")


def test_it_logs_in_through_the_sso_button(page: Page, live_server, sso, setup_done,
                                           tmp_path):
    ensure_roles()  # a transactional test's flush removed the role groups
    errors = _our_console_errors(page, live_server.url)
    sso.user("dana-sub", preferred_username="dana", groups=["helpdesk"])
    page.goto(f"{live_server.url}/login/?next=/audit/")
    button = page.get_by_role("button", name="Log in with Company SSO")
    expect(button).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()  # local login stays
    _shots(page, tmp_path, "login-sso")

    button.click()
    page.get_by_placeholder("sub").fill("dana-sub")
    page.get_by_role("button", name="Authorize").click()
    expect(page).to_have_url(f"{live_server.url}/audit/")
    expect(page.get_by_test_id("user-name")).to_have_text("dana")
    assert roles.role_of(get_user_model().objects.get(username="dana")) == "support"
    assert errors == []
    print(f"screenshots: {tmp_path}")


def test_it_enrols_totp_and_logs_in_with_a_code(page: Page, live_server, viewer_user, f2b,
                                                tmp_path):
    errors = _our_console_errors(page, live_server.url)
    login_page(page, live_server, viewer_user, next_path="/password/")
    page.get_by_test_id("mfa-link").click()
    page.get_by_role("link", name="Set up an authenticator app").click()
    # A security change asks for the password again.
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Set up an authenticator app")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for the authenticator app")).to_be_visible()
    _shots(page, tmp_path, "totp-enrol")
    secret = page.get_by_test_id("totp-secret").input_value()
    page.locator("input[name=code]").fill(totp(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).not_to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Two-factor code")).to_be_visible()
    expect(page.get_by_test_id("user-name")).to_have_count(0)  # not logged in yet
    _shots(page, tmp_path, "totp-login")
    page.locator("input[name=code]").fill("000000" if totp(secret) != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Two-factor code")).to_be_visible()
    expect(page.locator(".errorlist")).to_be_visible()
    page.locator("input[name=code]").fill(totp(secret))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_test_id("user-name")).to_have_text("viewer")
    assert errors == []
    print(f"screenshots: {tmp_path}")
