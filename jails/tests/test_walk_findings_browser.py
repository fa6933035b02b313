"""The new-user walk's smaller findings (#28 items 2, 4, 6, 7), as a person
sees them in a real Chromium: the blocklist's schedule in words and its
missing jail with where to create it; the jail page's "Defined in" names
jail.conf and the override once it exists; a broken regex is reported
once, with its reason; the header's Find IP takes the start of an address
and the country filter a name. No console error on the way (but the 400
of the refused test, by design)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from blocklists.models import BlocklistSource
from conftest import console_errors, login_page
from jails.fail2ban.testing import sshd_failure_line
from jails.models import BanEvent
from nodes.models import Node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_walks_smaller_findings_read_right(page: Page, live_server, admin_user, cfg):
    errors = console_errors(page)
    BlocklistSource.objects.create(name="demo list", url="https://example.org/demo.txt",
                                   jail="blocklist-import")
    login_page(page, live_server, admin_user, next_path="/blocklists/")
    # 4. The schedule in words; 2. the demo's list aims at BanGUI's own jail,
    # not created yet: said on its row, with where to create it (once this
    # host's node has published its running jails, as its worker does).
    row = page.get_by_test_id("sources").locator("tbody tr", has_text="demo list")
    expect(row).to_contain_text("daily")
    now = timezone.now()
    Node.objects.create(name=settings.BANGUI_NODE, holder="x:1:y", heartbeat_at=now,
                        expires_at=now + timedelta(seconds=30), facts_at=now,
                        fail2ban_up=True, jails=["sshd", "nginx-http-auth"])
    page.reload()
    notice = row.get_by_test_id("jail-missing")
    expect(notice).to_have_text("not running: create BanGUI's jails on the Config page, "
                                "or imports fail")
    notice.get_by_role("link", name="Config page").click()
    expect(page.get_by_role("heading", name="fail2ban configuration")).to_be_visible()

    # 6. Defined in: jail.conf, then the override BanGUI writes.
    page.goto(f"{live_server.url}/jails/sshd/")
    expect(page.get_by_test_id("defined-in")).to_have_text("jail.conf")
    expect(page.get_by_text("created by the first change BanGUI saves")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Max retries").fill("6")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#settings-answer + [data-testid=result]")).to_contain_text("Updated")
    expect(page.get_by_test_id("defined-in")).to_have_text(
        "jail.conf · overridden in jail.d/sshd.local")

    # 7. A broken regex: once, with the reason.
    page.goto(f"{live_server.url}/config/regex/")
    form = page.locator("form.regex-form")
    form.get_by_label("…or failregex").fill("from (<HOST>")
    form.get_by_label("Log lines").fill(sshd_failure_line("192.0.2.10"))
    form.get_by_role("button", name="Test").click()
    result = page.locator("#regex-result").get_by_test_id("result")
    expect(result).to_contain_text("Unable to compile regular expression")
    expect(result).to_contain_text("missing ), unterminated subpattern")
    assert result.inner_text().count("Unable to compile") == 1

    # 7. Find IP takes the start of an address; the country filter a name.
    BanEvent.objects.create(ip="203.0.113.7", jail="sshd", origin="detected", bantime=600,
                            banned_at=timezone.now(), country_code="DE")
    search = page.locator("#ip-search-q")
    search.fill("203.0.113.")
    search.press("Enter")
    expect(page.locator("#ban-table")).to_contain_text("203.0.113.7")
    assert "ip=203.0.113." in page.url
    page.goto(f"{live_server.url}/?country=germany&window=365d")
    expect(page.locator("#f-country")).to_have_value("DE")
    expect(page.locator("#ban-table")).to_contain_text("203.0.113.7")
    expect(page.get_by_text("Ignored country")).to_have_count(0)
    # The refused test answers 400 by design (docs/ui.md: swapped like a
    # success); Chromium notes every 4xx fetch on its console.
    assert [e for e in errors if "status of 400" not in e] == []
