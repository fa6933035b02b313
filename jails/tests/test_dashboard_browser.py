"""The dashboard in a real Chromium: filter, open an IP, unban it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import login_page
from jails.archive import sync as archive
from jails.models import BanEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_IP = "203.0.113.21"  # banned in sshd right now
WEB_IP = "198.51.100.22"  # nginx-http-auth, two hours ago
OLD_IP = "192.0.2.23"  # sshd, three days ago: only in the 7-day window


def test_it_filters_opens_an_ip_and_unbans_it(page: Page, live_server, f2b_client, admin_user):
    f2b_client.ban("sshd", [LIVE_IP])
    archive.record_manual(LIVE_IP, "sshd", "admin", client=f2b_client)
    now = timezone.now()
    BanEvent.objects.create(ip=WEB_IP, jail="nginx-http-auth", banned_at=now - timedelta(hours=2),
                            bantime=600, country_code="US")
    BanEvent.objects.create(ip=OLD_IP, jail="sshd", banned_at=now - timedelta(days=3),
                            bantime=600, country_code="DE")

    login_page(page, live_server, admin_user)
    rows = page.locator("#ban-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator(".charts svg.chart")).to_have_count(3)

    filters = page.get_by_role("search", name="Filter bans")
    filters.get_by_label("Jail").select_option("sshd")
    expect(page).to_have_url(re.compile(r"[?&]jail=sshd"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-ip", LIVE_IP)
    expect(rows.first).to_contain_text("banned")

    filters.get_by_label("Window").select_option("7d")
    expect(page).to_have_url(re.compile(r"window=7d"))
    expect(page).to_have_url(re.compile(r"jail=sshd"))
    expect(rows).to_have_count(2)
    expect(page.locator("#charts")).to_contain_text("last 7 days")

    page.get_by_role("link", name=LIVE_IP).click()
    expect(page).to_have_url(f"{live_server.url}/ip/{LIVE_IP}/")
    banned_now = page.locator("#banned-now")
    expect(banned_now).to_contain_text("banned in sshd")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Unban from sshd").click()
    expect(page.get_by_test_id("result")).to_have_text(f"Unbanned {LIVE_IP} from sshd.")
    expect(page.get_by_test_id("not-banned")).to_be_visible()
    assert f2b_client.jails_of_ip(LIVE_IP) == []

    # the header's search box, focused with "/"
    page.keyboard.press("/")
    page.keyboard.type(WEB_IP)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/ip/{WEB_IP}/")
    expect(page.locator("#ip-main")).to_contain_text("nginx-http-auth")
