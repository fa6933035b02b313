"""A blocklist from start to finish in a real Chromium: add a source,
preview it, import it now, see the log entry and the bans on the dashboard
with the blocklist badge. fail2ban is the real sandbox, with BanGUI's own
``blocklist-import`` jail provisioned through the config transaction."""

from __future__ import annotations

import pytest
from django_q.conf import Conf
from playwright.sync_api import Page, expect

from conftest import login_page
from jails.config import jail as jail_config

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIST = b"# test list\n203.0.113.201\n203.0.113.202\nnot an address\n2001:db8::202\n"


def test_it_adds_previews_imports_and_shows_the_bans(
        page: Page, live_server, cfg, f2b_client, operator_user, http_server, settings,
        monkeypatch):
    settings.BLOCKLIST_ALLOW_PRIVATE = True  # the list is served from 127.0.0.1
    monkeypatch.setattr(Conf, "SYNC", True)  # "Import now" runs the task in-process
    jail_config.provision()
    assert "blocklist-import" in f2b_client.jail_names()
    http_server.add("/bl.txt", body=LIST)

    login_page(page, live_server, operator_user, next_path="/blocklists/")
    page.get_by_role("link", name="Add a source").click()
    page.get_by_label("Name").fill("test list")
    page.get_by_label("URL").fill(http_server.base + "/bl.txt")
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("preview")
    expect(preview).to_contain_text("3 valid")
    expect(preview).to_contain_text("1 invalid")
    expect(preview).to_contain_text("Nothing was banned")
    assert f2b_client.jail_status("blocklist-import").banned_ips == []

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("sources")).to_contain_text("test list")
    page.get_by_role("button", name="Import now").click()
    log = page.get_by_test_id("import-runs")
    expect(log).to_contain_text("ok")
    expect(log.locator("tbody tr").first).to_contain_text("3")
    assert sorted(f2b_client.jail_status("blocklist-import").banned_ips) == [
        "2001:db8::202", "203.0.113.201", "203.0.113.202"]
    # The boosted forms swap the whole page (they used to leave only the
    # import-log fragment: no navigation, no sources).
    sources = page.get_by_test_id("sources")
    expect(page.get_by_role("heading", name="Blocklists", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(sources).to_contain_text("daily")  # the Schedule column
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disable").click()
    expect(sources.locator(".badge", has_text="disabled")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    page.get_by_role("button", name="Enable").click()
    expect(sources.locator(".badge", has_text="enabled")).to_be_visible()
    expect(page.get_by_test_id("import-runs")).to_contain_text("ok")

    page.goto(f"{live_server.url}/")
    rows = page.locator("#ban-table tbody tr", has_text="203.0.113.201")
    expect(rows.locator(".badge-origin-blocklist")).to_have_text("blocklist")
