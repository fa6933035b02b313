"""The notification pages in a real Chromium: an operator adds a channel
(its URL never shown back), sends a test and sees the result, adds a rule,
and the Notifications page lists what the rule said with each channel's
result. Screenshots (light, dark, a 390 px phone) go to
$BANGUI_SCREENSHOTS (default: the test's tmp dir)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string
from playwright.sync_api import expect

from conftest import console_errors, login_page
from jails.models import BanEvent
from notifications import evaluate, views

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _dark_and_phone(page, browser):
    """("dark" | "phone", a page signed in as ``page`` is), each closed after use."""
    cookies = page.context.cookies()
    for name, options in (("dark", {"color_scheme": "dark"}),
                          ("phone", {"viewport": {"width": 390, "height": 844},
                                     "device_scale_factor": 2, "is_mobile": True})):
        context = browser.new_context(**options)
        context.add_cookies(cookies)
        try:
            yield name, context.new_page()
        finally:
            context.close()


@pytest.fixture
def worker(monkeypatch):
    """The task worker, in process: a queued test is sent at once."""
    monkeypatch.setattr(views, "async_task",
                        lambda func, *args, **kwargs: import_string(func)(*args))


def test_an_operator_adds_a_channel_and_reads_the_notifications(
        page, live_server, operator_user, receiver, worker, browser, tmp_path):
    shots = Path(os.environ.get("BANGUI_SCREENSHOTS") or tmp_path)
    errors = console_errors(page)
    login_page(page, live_server, operator_user, next_path="/notifications/channels/")
    expect(page.get_by_text("No channels yet.")).to_be_visible()
    page.get_by_role("link", name="Add a channel").click()
    page.get_by_label("Name").fill("ops-hook")
    page.get_by_label("URL").fill(receiver.url("json", "/topic-secret"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved the channel ops-hook.")).to_be_visible()
    assert "topic-secret" not in page.content()
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_test_id("delivery-result")).to_contain_text("delivered")
    assert len(receiver.requests) == 1

    page.get_by_role("link", name="Rules").first.click()
    page.get_by_role("link", name="Add a rule").click()
    page.get_by_label("Name").fill("ssh storm")
    page.get_by_label("Kind").select_option("threshold")
    page.get_by_label("Threshold").fill("5")
    page.get_by_label("ops-hook").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="ssh storm")).to_be_visible()

    now = timezone.now()
    for i in range(12):
        BanEvent.objects.create(node="web-1", jail="sshd", ip=f"203.0.113.{i + 1}",
                                banned_at=now - timedelta(seconds=i), bantime=600)
    evaluate.run(sleep=lambda s: None)
    page.get_by_role("link", name="Notifications", exact=True).first.click()
    table = page.get_by_test_id("notifications")
    expect(table).to_contain_text("12 bans in 10 min across the fleet")
    expect(table.get_by_test_id("delivery").first).to_contain_text("delivered")
    page.screenshot(path=str(shots / "notifications-light.png"), full_page=True)
    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_text("Marked 2 notifications read.")).to_be_visible()
    assert errors == []

    for name, other in _dark_and_phone(page, browser):
        other.goto(f"{live_server.url}/notifications/")
        expect(other.get_by_test_id("notifications")).to_be_visible()
        other.screenshot(path=str(shots / f"notifications-{name}.png"), full_page=True)
        if name == "dark":
            other.goto(f"{live_server.url}/notifications/channels/")
            other.screenshot(path=str(shots / "channels-dark.png"), full_page=True)


def test_an_operator_adds_a_weekly_digest_and_a_watched_country(
        page, live_server, operator_user, browser, tmp_path):
    shots = Path(os.environ.get("BANGUI_SCREENSHOTS") or tmp_path)
    errors = console_errors(page)
    login_page(page, live_server, operator_user, next_path="/notifications/rules/new/")
    page.get_by_label("Name").fill("weekly summary")
    page.get_by_label("Kind").select_option("digest")
    page.get_by_label("Period").select_option("weekly")
    page.screenshot(path=str(shots / "rule-form-light.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="a daily or weekly digest: weekly")).to_be_visible()

    page.get_by_role("link", name="Add a rule").click()
    page.get_by_label("Name").fill("watch")
    page.get_by_label("Kind").select_option("watched")
    assert errors == []
    page.get_by_label("Watched").fill("XX")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("'XX' is not a country code")).to_be_visible()
    # The refused form answers 400 (as every form page here does): the one
    # console line, the browser's note of that status.
    assert [e for e in errors if "status of 400" not in e] == [] and len(errors) == 1
    page.get_by_label("Watched").fill("CN\nAS64500\n203.0.113.0/24")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="watch", exact=True)).to_be_visible()
    page.screenshot(path=str(shots / "rules-light.png"), full_page=True)
    assert len(errors) == 1

    for name, other in _dark_and_phone(page, browser):
        for path in ("/notifications/rules/", "/notifications/rules/new/"):
            other.goto(f"{live_server.url}{path}")
            expect(other.get_by_role("heading", level=1)).to_be_visible()
            other.screenshot(path=str(shots / f"rules{path.count('new') * '-form'}-{name}.png"),
                             full_page=True)
