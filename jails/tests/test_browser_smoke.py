"""Smoke test through a real Chromium: the dashboard against the real sandbox."""

import pytest
from playwright.sync_api import Page, expect

import conftest
from jails.fail2ban import Fail2banClient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The status bar polls every 10 s (hx-trigger="every 10s").
POLL_TIMEOUT_MS = 20_000


def open_page(page: Page, live_server, request, path: str = "/") -> None:
    """Open ``path`` as a signed-in admin sees it.

    When pages sit behind the setup wizard and the login wall, finish setup
    and log in with the shared ``admin_user`` fixture through the real login
    form, which brings it back to ``path``. Every browser test goes through here, so
    this is the one place to change when the way in changes.
    """
    page.goto(live_server.url + path)
    landed = page.url.removeprefix(live_server.url)
    if not landed.startswith(("/login/", "/setup/")):
        return
    # The accounts fixtures: an admin (setup marked done) and the login-form helper.
    login = getattr(conftest, "login_page", None)
    try:
        user = request.getfixturevalue("admin_user")
    except pytest.FixtureLookupError:
        user = None
    if login is None or user is None:
        pytest.fail(f"{path} redirected to {landed}; open_page() needs conftest's "
                    "admin_user fixture and login_page() helper to get in")
    login(page, live_server, user, next_path=path)
    expect(page).to_have_url(live_server.url + path)


def test_it_shows_the_live_status_bar_and_follows_a_ban(page: Page, live_server, f2b, request):
    open_page(page, live_server, request)
    status = page.locator("#status-bar")
    expect(status).to_contain_text(f"fail2ban {f2b.version()}")
    expect(status).to_contain_text("2 jails running")
    banned_now = page.get_by_test_id("banned-now")
    expect(banned_now).to_have_text("0")

    Fail2banClient(str(f2b.socket)).ban("sshd", ["203.0.113.77"])

    # No reload: HTMX's poll swaps in the new count.
    expect(banned_now).to_have_text("1", timeout=POLL_TIMEOUT_MS)
    # The dashboard's jail filter lists the running jails.
    expect(page.locator("#f-jail")).to_contain_text("sshd")
