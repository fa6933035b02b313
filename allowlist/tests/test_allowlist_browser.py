"""The allow-list page in a real Chromium: support signs in, adds their own
address in one click ("Add my address"), sees it listed and in fail2ban's
ignore lists, and removes it. Screenshots (light, dark, 390 px) when
BANGUI_TEST_SHOTS names a folder."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conftest import console_errors, login_page
from jails.tests.test_viewer_forms_browser import _shots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_my_address_in_one_click_then_remove(page: Page, live_server, support_user,
                                                 clean_ignore_lists, f2b_client):
    login_page(page, live_server, support_user, next_path="/allowlist/")
    errors = console_errors(page)
    expect(page.get_by_role("link", name="Allow-list")).to_have_attribute("aria-current", "page")
    _shots(page, "allowlist-empty")

    page.get_by_role("button", name="Add my address").click()
    row = page.get_by_test_id("entries").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("127.0.0.1")
    expect(row).to_contain_text("every jail on every node")
    expect(row).to_contain_text("support")
    expect(page.locator(".messages")).to_contain_text("Allow-listed 127.0.0.1")
    assert "127.0.0.1" in f2b_client.ignore_list("sshd")
    assert "127.0.0.1" in f2b_client.ignore_list("nginx-http-auth")

    form = page.get_by_test_id("add-form")
    form.get_by_label("Address, network or host name").fill("198.51.100.0/24")
    form.get_by_label("Note").fill("office VPN")
    form.get_by_label("Expires after").fill("8h")
    form.get_by_label("Jail").fill("sshd")
    form.get_by_role("button", name="Add").click()
    expect(row).to_have_count(2)
    _shots(page, "allowlist")

    page.once("dialog", lambda d: d.accept())
    row.filter(has_text="127.0.0.1").get_by_role("button", name="Remove").click()
    expect(row).to_have_count(1)
    expect(page.locator(".messages")).to_contain_text("Removed 127.0.0.1")
    assert "127.0.0.1" not in f2b_client.ignore_list("sshd")
    assert errors == []
