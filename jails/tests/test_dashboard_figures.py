"""The dashboard leads with what matters: figures, headings and charts that
follow every filter, new bans announced without a reload, and a question
before banning an ignored address or the admin's own."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jails.archive import queries as dashboard
from jails.models import BanEvent

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _ban(ip, ago, jail="sshd", country="DE", **extra):
    return BanEvent.objects.create(ip=ip, jail=jail, banned_at=timezone.now() - ago,
                                   bantime=600, country_code=country, **extra)


@pytest.fixture
def bans():
    h = timedelta(hours=1)
    return [_ban("192.0.2.1", h), _ban("192.0.2.1", 2 * h), _ban("192.0.2.2", 3 * h, country="US"),
            _ban("198.51.100.9", 5 * h, jail="nginx-http-auth", country="FR"),
            _ban("192.0.2.7", timedelta(hours=30))]  # the 24 hours before


def _text(html: str, testid: str) -> str:
    part = html.split(f'data-testid="{testid}"', 1)[1].split("</div>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", part.split(">", 1)[1]).split())


def test_summary_counts_the_window_the_one_before_and_distinct_ips(bans):
    s = dashboard.summary("24h")
    assert (s.total, s.previous, s.distinct_ips) == (4, 1, 3)
    assert s.change == 3.0
    assert dashboard.summary("365d").distinct_ips is None  # not counted over 7 days
    assert dashboard.summary("24h", ip_query="192.0.2.1").total == 2


def test_the_figures_lead_the_page_and_follow_the_filters(admin_client, f2b, f2b_client, bans):
    f2b_client.ban("sshd", ["203.0.113.77"])
    html = admin_client.get("/").content.decode()
    assert html.index('id="figures"') < html.index('id="charts"') < html.index('id="ban-table"')
    assert _text(html, "figure-banned-now") == "1 banned now"
    assert _text(html, "figure-total").startswith("4 bans in the last 24 hours · +300 %")
    assert _text(html, "figure-ips") == "3 distinct IPs"
    assert _text(html, "figure-top-jail") == "sshd top jail · 3"
    assert _text(html, "figure-top-country") == "Germany top country · 2"

    fragment = admin_client.get("/?window=7d&ip=192.0.2.1", **HX).content.decode()
    assert 'id="figures" class="figures" aria-label="Summary" hx-swap-oob="true"' in fragment
    assert _text(fragment, "figure-total").startswith("2 bans in the last 7 days")
    # The heading and every chart follow the window and the IP filter.
    assert '<h1 id="dashboard-title" hx-swap-oob="true">' in fragment
    assert "bans in the last 7 days" in fragment.split('id="dashboard-title"')[1][:200]
    side = fragment.split('id="side-charts"')[1]
    assert "Germany" in side and "France" not in side and "nginx-http-auth" not in side


def test_new_bans_are_announced_for_the_same_filters(admin_client, bans):
    newest = max(b.banned_at for b in bans).timestamp()
    html = admin_client.get("/").content.decode().replace("&amp;", "&")
    assert f'data-new-bans-url="/bans/new/?since={newest:.6f}"' in html
    newest = f"{newest:.6f}"
    assert admin_client.get(f"/bans/new/?since={newest}").content.decode().strip() == ""
    _ban("192.0.2.50", timedelta(seconds=5))
    _ban("198.51.100.51", timedelta(seconds=4), jail="nginx-http-auth")
    answer = admin_client.get(f"/bans/new/?since={newest}").content.decode()
    assert "2 new bans — show" in answer
    answer = admin_client.get(f"/bans/new/?since={newest}&jail=sshd").content.decode()
    assert "1 new ban — show" in answer and 'hx-get="?jail=sshd"' in answer
    assert admin_client.get("/bans/new/?since=nope").content.decode() == ""


def test_banning_an_ignored_address_asks_first(admin_client, f2b, f2b_client):
    # The sandbox ignores 127.0.0.1/8 and ::1.
    html = admin_client.post("/bans/ban/", {"ip": "127.0.0.5", "jail": "sshd"},
                             **HX).content.decode()
    assert "Not banned yet: 127.0.0.5 is in sshd&#x27;s ignore list (127.0.0.0/8)" in html
    assert 'data-testid="ban-confirm"' in html
    assert "127.0.0.5" not in f2b_client.jail_status("sshd").banned_ips
    html = admin_client.post("/bans/ban/", {"ip": "127.0.0.5", "jail": "sshd", "confirm": "1"},
                             **HX).content.decode()
    assert "Banned 127.0.0.5 in sshd" in html
    assert "127.0.0.5" in f2b_client.jail_status("sshd").banned_ips


def test_banning_your_own_address_asks_first_everywhere(admin_client, f2b, f2b_client):
    own = {"REMOTE_ADDR": "192.0.2.200"}
    for url, data in (("/bans/ban/", {"ip": "192.0.2.200", "jail": "sshd"}),
                      ("/ip/192.0.2.200/ban/", {"jail": "sshd"}),
                      ("/jails/sshd/ban/", {"ips": "192.0.2.200"})):
        html = admin_client.post(url, data, **HX, **own).content.decode()
        assert "the address your browser connects from" in html, url
        assert 'data-testid="ban-confirm"' in html, url
    assert f2b_client.jail_status("sshd").banned_ips == []
    html = admin_client.post("/jails/sshd/ban/", {"ips": "192.0.2.200", "confirm": "1"},
                             **HX, **own).content.decode()
    assert "192.0.2.200" in f2b_client.jail_status("sshd").banned_ips, html


def test_a_stopped_jail_is_listed_with_start_and_counted(admin_client, f2b, f2b_client):
    f2b_client.stop_jail("nginx-http-auth")
    html = admin_client.get("/jails/").content.decode()
    table = html.split('data-testid="inactive-jails"')[1]
    row = table.split("nginx-http-auth", 1)[1].split("</tr>", 1)[0]
    assert "stopped" in row and "/jails/nginx-http-auth/start/" in row
    assert "1 jail running" in html and "1 stopped" in html


def test_error_pages_are_in_the_apps_layout(admin_client, viewer_client):
    page = admin_client.get("/no/such/page/")
    assert page.status_code == 404
    html = page.content.decode()
    assert 'class="site-nav"' in html and 'name="viewport"' in html
    assert "Go to the dashboard" in html and "There is no page at this address" in html
    denied = viewer_client.post("/jails/sshd/stop/")
    assert denied.status_code == 403
    assert "Your role may not do this" in denied.content.decode()


def test_every_ip_in_the_audit_trail_links_to_its_page(admin_client, f2b):
    admin_client.post("/bans/unban/", {"ip": "192.0.2.99", "jail": "sshd"})
    html = admin_client.get("/audit/").content.decode()
    assert '<a class="ip" href="/ip/192.0.2.99/">192.0.2.99</a>' in html
