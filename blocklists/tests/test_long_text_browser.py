"""Long words in tables, in a real Chromium (#28 item 5): a failed
blocklist run's error no longer pushes its row's "New bans" column and
buttons off-screen at 1400 px, and a long audit detail is not clipped (the
start shows, the whole text one click away). In both themes and on a phone.

With BANGUI_TEST_SHOTS set to a directory, screenshots go there."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import AuditEntry
from blocklists.models import BlocklistSource, ImportRun
from conftest import console_errors, login_page
from jails.tests.test_viewer_forms_browser import _shots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ERROR = ("download failed: https://lists.example.org/very/long/path/to/a/list/that/goes/on/"
         "and/on/without/any/space/at/all/blocklist-with-a-long-name.txt answered HTTP 503 "
         "Service Unavailable three times; the next try is at the next scheduled run")


def _right_edge(locator) -> float:
    box = locator.bounding_box()
    return box["x"] + box["width"]


def test_a_failed_run_keeps_its_row_on_screen(page: Page, live_server, operator_user):
    source = BlocklistSource.objects.create(name="long", url="https://lists.example.org/l.txt")
    ImportRun.objects.create(source=source, status=ImportRun.Status.FAILED, error=ERROR,
                             finished_at=timezone.now())
    errors = console_errors(page)
    page.set_viewport_size({"width": 1400, "height": 900})
    login_page(page, live_server, operator_user, next_path="/blocklists/")
    row = page.get_by_test_id("sources").locator("tbody tr", has_text="long")
    expect(row).to_contain_text("download failed")
    for button in ("Import now", "Disable", "Delete"):
        assert _right_edge(row.get_by_role("button", name=button)) <= 1400, button
    header = page.get_by_test_id("sources").get_by_role("columnheader", name="New bans")
    assert _right_edge(header) <= 1400
    log_row = page.get_by_test_id("import-runs").locator("tbody tr").first
    expect(log_row).to_contain_text("three times")
    _shots(page, "blocklists-failed-run")
    assert errors == []


def test_a_long_audit_detail_shows_its_start_and_opens_whole(page: Page, live_server,
                                                             admin_user):
    AuditEntry.objects.create(actor=admin_user, actor_name="root", action="blocklist.save",
                              target="long",
                              detail=ERROR * 2, result="ok")
    errors = console_errors(page)
    page.set_viewport_size({"width": 1400, "height": 900})
    login_page(page, live_server, admin_user, next_path="/audit/")
    cell = page.locator("td.detail", has_text="download failed")
    summary = cell.locator("summary")
    expect(summary).to_contain_text("download failed: https://lists.example.org/")
    assert _right_edge(cell) <= 1400
    summary.click()
    expect(cell).to_contain_text("next scheduled rundownload failed")  # the whole text
    assert _right_edge(cell) <= 1400
    _shots(page, "audit-long-detail")
    assert errors == []
