"""The Config page's file lists in a real Chromium (#28 item 7): filter.d
and action.d were boxes clipped at 24rem whose scrollbar some systems hide;
now every file of every directory is on the page, long ones in columns
across the page's width. Screenshots with BANGUI_TEST_SHOTS."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conftest import console_errors, login_page
from jails.tests.test_viewer_forms_browser import _shots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_config_file_is_on_the_page_unclipped(page: Page, live_server, viewer_user, cfg):
    errors = console_errors(page)
    login_page(page, live_server, viewer_user, next_path="/config/")
    filters = sorted(p.name for p in (cfg.confdir / "filter.d").iterdir() if p.is_file())
    assert len(filters) > 12
    group = page.get_by_test_id("config-group").filter(
        has=page.get_by_role("heading", name="filter.d/"))
    expect(group.get_by_role("heading")).to_contain_text(str(len(filters)))
    links = group.locator(".file-list a")
    expect(links).to_have_count(len(filters))
    clipped = page.evaluate("""[...document.querySelectorAll('.file-list')]
        .filter(l => l.scrollHeight > l.clientHeight + 1).length""")
    assert clipped == 0
    last = links.last
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()
    _shots(page, "config-files")
    assert errors == []
