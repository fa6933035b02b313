"""A journal-backed jail in a real Chromium: its page shows the backend and
the journalmatch (no log files), it stops and starts, and its settings save
without a logpath field anywhere; no console error on the way. Screenshots
(light, dark, 390 px phone) go to BANGUI_TEST_SHOTS when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import console_errors, login_page
from jails.fail2ban import Fail2banClient
from jails.tests.test_journal_jails import journal_sandbox, jsb  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shots(page: Page, name: str) -> None:
    """Light, dark and 390 px phone: each fits its window, no inline style."""
    folder = os.environ.get("BANGUI_TEST_SHOTS")
    desktop = page.viewport_size or {"width": 1280, "height": 720}
    for suffix, scheme, size in (("light", "light", desktop), ("dark", "dark", desktop),
                                 ("phone", "light", {"width": 390, "height": 844})):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size(size)
        wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0, f"{name}-{suffix}: wider than its window by {wider} px"
        assert page.locator("[style]").count() == 0
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{folder}/{name}-{suffix}.png", full_page=True,
                            caret="initial")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(desktop)


def test_a_journal_jail_is_shown_stopped_started_and_edited_without_a_logpath(
        jsb, live_server, page, admin_user):  # noqa: F811 (the fixture imported above)
    errors = console_errors(page)
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    login_page(page, live_server, admin_user, next_path="/jails/sshd-journal/")
    main = page.locator("#jail-main")
    expect(main.get_by_test_id("backend")).to_have_text(f"systemd[journalfiles={jsb.journal}]")
    expect(main.get_by_test_id("journalmatch")).to_contain_text("_SYSTEMD_UNIT=")
    expect(main.get_by_text("the systemd journal", exact=True)).to_be_visible()
    expect(main.get_by_test_id("journal-help")).to_contain_text("no log files to set")
    expect(page.locator("[name=logpath]")).to_have_count(0)
    expect(main.locator("dt", has_text="Log files")).to_have_count(0)
    _shots(page, "journal-jail")

    main.get_by_role("button", name="Stop").click()
    expect(main.get_by_test_id("result")).to_contain_text("Stopped sshd-journal")
    expect(main.get_by_text("enabled, not running")).to_be_visible()
    # Stopped: what the config says, still the journal.
    expect(main.get_by_test_id("journalmatch")).to_contain_text("_SYSTEMD_UNIT=")
    main.get_by_role("button", name="Start").click()
    expect(main.get_by_test_id("result")).to_contain_text("Started sshd-journal")
    assert "sshd-journal" in Fail2banClient(str(jsb.socket)).jail_names()

    main.get_by_label("Max retries").fill("5")
    main.get_by_role("button", name="Save").click()
    expect(main.get_by_test_id("result")).to_contain_text("Updated maxretry of sshd-journal")
    expect(main.get_by_test_id("maxretry")).to_have_text("5")
    assert Fail2banClient(str(jsb.socket)).call("get", "sshd-journal", "maxretry") == 5

    page.goto(f"{live_server.url}/jails/")
    expect(page.get_by_test_id("journalmatch").first).to_contain_text("journal:")
    _shots(page, "jails-list")
    assert errors == []


def test_an_admin_tests_a_filter_against_the_journal_as_the_jail_reads_it(
        jsb, live_server, page, admin_user):  # noqa: F811 (the fixture imported above)
    errors = console_errors(page)
    login_page(page, live_server, admin_user, next_path="/config/regex/")
    form = page.locator(".regex-form")
    form.get_by_label("Existing filter").select_option("sshd")
    form.get_by_label("…or the systemd journal").select_option("sshd-journal")
    form.get_by_role("button", name="Test").click()
    result = page.get_by_test_id("result")
    expect(result).to_contain_text("the systemd journal as sshd-journal reads it")
    expect(result).to_contain_text("3 matched")
    expect(page.get_by_test_id("hosts")).to_have_text("192.0.2.10, 192.0.2.11")
    _shots(page, "regex-journal")
    assert errors == []
