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


def test_forms_low_on_the_jail_page_answer_beside_themselves(page: Page, live_server, f2b,
                                                              operator_user, f2b_client,
                                                              settings, tmp_path):
    """#28 item 3: the ignore list's and the settings' answers used to land
    at the top of the page, 900-2000 px above the form, and the typed value
    was lost ("abc" as bantime came back as 3600)."""
    settings.DATA_DIR = tmp_path / "data"
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1280, "height": 600})
    login_page(page, live_server, operator_user, next_path="/jails/sshd/")

    add = page.get_by_label("Add IP or CIDR")
    add.fill("not-an-address")
    add.press("Enter")
    answer = page.locator("#ignore-answer").get_by_test_id("result")
    expect(answer).to_contain_text("Not done.")
    expect(answer).to_be_in_viewport()
    expect(page.get_by_label("Add IP or CIDR")).to_have_value("not-an-address")
    page.get_by_label("Add IP or CIDR").fill("192.0.2.0/24")
    page.get_by_label("Add IP or CIDR").press("Enter")
    expect(answer).not_to_contain_text("Not done.")
    expect(answer).to_be_in_viewport()
    expect(page.get_by_label("Add IP or CIDR")).to_have_value("")
    expect(page.locator(".ignore-list")).to_contain_text("192.0.2.0/24")
    assert "192.0.2.0/24" in f2b_client.jail_settings("sshd").ignore_ips

    before = f2b_client.jail_settings("sshd").bantime
    page.get_by_label("Ban time").fill("abc")
    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.get_by_role("button", name="Save", exact=True).click()
    beside = page.locator("#settings-answer + [data-testid=result]")
    expect(beside).to_contain_text("Not done.")
    expect(beside).to_be_in_viewport()
    expect(page.get_by_label("Ban time")).to_have_value("abc")
    expect(page.locator("#jail-main [data-testid=result]")).to_have_count(1)  # not at the top
    assert f2b_client.jail_settings("sshd").bantime == before
    assert errors == []


def test_the_status_bar_follows_a_stop_at_once(page: Page, live_server, f2b, operator_user,
                                               f2b_client, settings, tmp_path):
    """#28 item 7: it said "2 jails running" for up to 10 s after a Stop (its
    poll); an action's answer now tells the page (HX-Trigger bangui:changed)."""
    settings.DATA_DIR = tmp_path / "data"
    login_page(page, live_server, operator_user, next_path="/jails/sshd/")
    running = len(f2b_client.jail_names())
    bar = page.locator("#status-bar")
    expect(bar).to_contain_text(f"{running} jails running")
    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("h1")).to_contain_text("enabled, not running")
    # Well inside the bar's own 10 s poll.
    expect(bar).to_contain_text(f"{running - 1} jail", timeout=4000)
    expect(bar).to_contain_text("1 stopped", timeout=1000)
