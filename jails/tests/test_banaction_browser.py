"""The missing-banaction banners in a real Chromium: readable in light, dark
and on a 390 px phone, with the fix in view, no console error. Screenshots go
to BANGUI_TEST_SHOTS when it is set."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import console_errors, login_page
from jails.tests.test_banaction import no_banaction  # noqa: F401 (the fixture)
from jails.tests.test_journal_browser import _shots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_config_and_jail_pages_show_the_missing_banaction_and_its_fix(
        no_banaction, live_server, page, viewer_user):  # noqa: F811
    errors = console_errors(page)
    login_page(page, live_server, viewer_user, next_path="/config/")
    banner = page.get_by_test_id("banaction-missing")
    expect(banner).to_contain_text("1 enabled jail (sshd) has no ban action")
    expect(banner.get_by_test_id("banaction-fix").first).to_have_text(
        "banaction = nftables-multiport")
    _shots(page, "banaction-config")
    page.goto(f"{live_server.url}/jails/sshd/")
    expect(page.get_by_test_id("banaction-missing")).to_contain_text("sshd has no ban action.")
    _shots(page, "banaction-jail")
    assert errors == []
