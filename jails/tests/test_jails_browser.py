"""Through a real Chromium: enable a jail, change its maxretry, see it live."""

import pytest
from playwright.sync_api import Page, expect

from conftest import login_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_enables_a_jail_and_edits_its_maxretry(page: Page, live_server, f2b, operator_user,
                                                 f2b_client, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    login_page(page, live_server, operator_user, next_path="/jails/")
    inactive = page.get_by_test_id("inactive-jails")
    expect(inactive).to_contain_text("postfix")
    inactive.get_by_role("button", name="Enable").click()

    expect(page).to_have_url(f"{live_server.url}/jails/postfix/")
    expect(page.locator(".messages")).to_contain_text("Enabled postfix")
    expect(page.locator("h1")).to_contain_text("running")
    assert "postfix" in f2b_client.jail_names()

    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.get_by_label("Max retries").fill("7")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("result")).to_contain_text("Updated maxretry of postfix")
    expect(page.get_by_test_id("maxretry")).to_have_text("7")
    assert f2b_client.jail_settings("postfix").maxretry == 7

    page.goto(f"{live_server.url}/jails/")
    expect(page.locator("#jail-table")).to_contain_text("postfix")
    expect(page.get_by_test_id("inactive-jails")).to_have_count(0)
