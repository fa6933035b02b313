"""Through a real Chromium: setup wizard, login, logout, a wrong password."""

import pytest
from playwright.sync_api import Page, expect

from conftest import TEST_PASSWORD, login_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_walks_through_setup_login_logout_and_a_wrong_password(page: Page, live_server, f2b):
    page.goto(live_server.url + "/audit/")
    expect(page).to_have_url(live_server.url + "/setup/")

    page.get_by_label("Username").fill("night-admin")
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_label("Password again").fill(TEST_PASSWORD)
    page.get_by_label("fail2ban socket path").fill(str(f2b.socket))
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label("Session lifetime (hours)").fill("4")
    page.get_by_role("button", name="Finish setup").click()

    # The admin who chose the password is logged in at once.
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator(".messages")).to_contain_text("You are logged in as night-admin")
    expect(page.get_by_test_id("user-name")).to_have_text("night-admin")
    expect(page.locator("#status-bar")).to_contain_text("fail2ban " + f2b.version())

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(live_server.url + "/login/")
    page.get_by_label("Username").fill("night-admin")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + "/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(live_server.url + "/login/")
    page.get_by_label("Username").fill("night-admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_test_id("user-name")).to_have_count(0)

    assert page.goto(live_server.url + "/setup/").status == 404


def test_it_logs_in_with_the_helper_and_returns_to_the_page(page: Page, live_server,
                                                            viewer_user, f2b):
    login_page(page, live_server, viewer_user, next_path="/audit/")
    expect(page).to_have_url(live_server.url + "/audit/")
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
