"""A fleet node's page in a real Chromium: its published live bans listed,
the search narrowing them as one types (HTMX), an unban refused with the
node's reason when it went down, and no console error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import login_page
from jails.fleet.models import LiveBan, LiveBanState
from nodes.models import Node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_node_page_lists_searches_and_refuses_when_down(page: Page, live_server, admin_user):
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.append(str(e)))
    now = timezone.now()
    Node.objects.create(name="edge-2", holder="edge-2:1:x", heartbeat_at=now,
                        expires_at=now + timedelta(minutes=5), fail2ban_up=True, jails=["sshd"])
    LiveBanState.objects.create(node="edge-2", checked_at=now + timedelta(minutes=5), known=True)
    LiveBan.objects.bulk_create([
        LiveBan(node="edge-2", jail="sshd", ip=ip, bantime=3600, banned_at=now,
                ends_at=now + timedelta(hours=1))
        for ip in ("192.0.2.10", "192.0.2.11", "198.51.100.4")])
    login_page(page, live_server, admin_user)
    page.goto(live_server.url + "/nodes/edge-2/")
    table = page.get_by_test_id("node-banned-table")
    expect(table).to_contain_text("198.51.100.4")
    expect(table.locator("tbody tr")).to_have_count(3)
    page.get_by_label("Search IPs").fill("198.51")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(page).to_have_url(live_server.url + "/nodes/edge-2/?q=198.51")

    Node.objects.filter(pk="edge-2").update(expires_at=now - timedelta(seconds=1))
    page.once("dialog", lambda d: d.accept())
    table.get_by_role("button", name="Unban").click()
    expect(page.get_by_test_id("result")).to_contain_text(
        "Not done on edge-2 (node edge-2 is down")
    expect(page.get_by_test_id("node-banned-unknown")).to_contain_text(
        "Its live bans are unknown: node edge-2 is down")
    assert seen == []
