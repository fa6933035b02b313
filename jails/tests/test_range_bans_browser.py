"""Network bans in a real Chromium (issue #28): a /24 typed into the
dashboard's "Ban an IP or a network" is banned in fail2ban and shows as
"banned (range …)" on the page of an address inside it; an IPv6 address's
page bans its /64; the IP page links outward. Screenshots (light, dark,
390 px) when BANGUI_TEST_SHOTS names a folder."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from conftest import console_errors, login_page
from jails.tests.test_viewer_forms_browser import _shots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page: Page, live_server, operator_user):
    login_page(page, live_server, operator_user)
    return page


def test_a_24_and_an_ipv6_64_are_banned_and_shown_as_ranges(signed_in: Page, live_server,
                                                            f2b_client):
    page = signed_in
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    form = page.locator("section.manual-ban form")
    form.get_by_label("IP address or network").fill("10.0.0.0/8")
    form.get_by_label("Ban in jail").select_option("sshd")
    page.once("dialog", lambda d: d.accept())
    form.get_by_role("button", name="Ban").click()
    beside = page.locator("#manual-ban-result").get_by_test_id("result")
    expect(beside).to_contain_text("10.0.0.0/8 is too wide to ban")
    expect(form.get_by_label("IP address or network")).to_have_value("10.0.0.0/8")
    assert list(f2b_client.call("get", "sshd", "banip")) == []

    form.get_by_label("IP address or network").fill("203.0.113.0/24")
    page.once("dialog", lambda d: d.accept())
    form.get_by_role("button", name="Ban").click()
    expect(beside).to_contain_text("Banned 203.0.113.0/24 in sshd.")
    row = page.locator("#ban-table tr[data-ip='203.0.113.0/24']")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("now")).to_contain_text("banned")
    assert "203.0.113.0/24" in f2b_client.call("get", "sshd", "banip")
    _shots(page, "dashboard-range-ban", focus=page.locator("section.manual-ban"))
    _shots(page, "dashboard-range-row", focus=row)

    page.goto(live_server.url + "/ip/203.0.113.5/")
    expect(page.get_by_test_id("range-ban")).to_contain_text(
        "banned (range 203.0.113.0/24 in sshd)")
    _shots(page, "ip-inside-range", focus=page.get_by_test_id("range-ban"))

    page.goto(live_server.url + "/ip/2001:db8:1:2::5/")
    page.locator("#banned-now").get_by_label("Ban in jail").select_option("sshd")
    page.once("dialog", lambda d: d.accept())
    page.get_by_test_id("ban-64").click()
    expect(page.get_by_test_id("result")).to_contain_text("Banned 2001:db8:1:2::/64 in sshd.")
    expect(page.get_by_test_id("range-ban")).to_contain_text(
        "banned (range 2001:db8:1:2::/64 in sshd)")
    assert "2001:db8:1:2::/64" in f2b_client.call("get", "sshd", "banip")
    page.goto(live_server.url + "/ip/2001:db8:1:2:abcd::1/")
    expect(page.get_by_test_id("range-ban")).to_contain_text(
        "banned (range 2001:db8:1:2::/64 in sshd)")
    _shots(page, "ip-inside-64")

    # the range is unbanned from an address inside it
    page.goto(live_server.url + "/ip/203.0.113.5/")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Unban 203.0.113.0/24").click()
    expect(page.get_by_test_id("result")).to_contain_text("Unbanned 203.0.113.0/24 from sshd.")
    expect(page.get_by_test_id("not-banned")).to_be_visible()
    assert errors == []


def test_the_ip_page_links_outward(signed_in: Page, live_server, f2b):
    page = signed_in
    page.goto(live_server.url + "/ip/8.8.4.4/")
    outward = page.get_by_test_id("outward")
    for name in ("RDAP (whois)", "AbuseIPDB", "Shodan"):
        link = outward.get_by_role("link", name=name)
        expect(link).to_be_visible()
        expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(outward.get_by_role("link", name="Shodan")).to_have_attribute(
        "href", "https://www.shodan.io/host/8.8.4.4")
    _shots(page, "ip-outward")


def test_a_permanent_ban_shows_permanent_and_has_its_filter(signed_in: Page, live_server, cfg):
    from jails.config import jail as jail_config

    assert jail_config.provision().ok
    page = signed_in
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    form = page.locator("section.manual-ban form")
    form.get_by_label("IP address or network").fill("198.51.100.0/24")
    form.get_by_label("Permanently").check()
    page.once("dialog", lambda d: d.accept())
    form.get_by_role("button", name="Ban").click()
    expect(page.locator("#manual-ban-result").get_by_test_id("result")).to_contain_text(
        "Banned 198.51.100.0/24 in permanent.")
    page.locator("#f-kind").select_option("permanent")
    row = page.locator("#ban-table tr[data-ip='198.51.100.0/24']")
    expect(row.get_by_test_id("until")).to_have_text("permanent")
    expect(row.get_by_test_id("now")).to_contain_text("permanent")
    expect(page).to_have_url(re.compile(r"[?&]kind=permanent(&|$)"))
    _shots(page, "dashboard-permanent-filter")
    assert errors == []
