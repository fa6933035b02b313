"""One IP's page (/ip/<ip>/) and the header's IP search (/ip/?q=)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from jails.models import BanEvent

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
IP = "192.0.2.44"


@pytest.fixture
def dead_f2b(settings, tmp_path):
    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")


@pytest.fixture
def history():
    now = timezone.now()
    return [
        BanEvent.objects.create(ip=IP, jail="sshd", banned_at=now - timedelta(days=40),
                                bantime=600, failures=5, country_code="DE",
                                matches="Failed password for root from 192.0.2.44\n"
                                        "Failed password for admin from 192.0.2.44"),
        BanEvent.objects.create(ip=IP, jail="nginx-http-auth", banned_at=now - timedelta(hours=2),
                                bantime=-1, failures=3, country_code="DE"),
        BanEvent.objects.create(ip="192.0.2.45", jail="sshd", banned_at=now, bantime=600),
    ]


def test_it_lists_every_archived_ban_of_the_ip_across_jails(admin_client, dead_f2b, history):
    response = admin_client.get(reverse("ip_detail", args=[IP]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "nginx-http-auth" in body and "sshd" in body
    assert "192.0.2.45" not in body
    assert "<details><summary>2 lines</summary>" in body
    assert "Failed password for admin from 192.0.2.44" in body
    assert "permanent" in body and "10m" in body  # durations
    assert body.index("nginx-http-auth</td>") < body.index("sshd</td>")  # newest first


def test_it_shows_the_country_from_the_read_only_geo_cache(admin_client, dead_f2b):
    body = admin_client.get(reverse("ip_detail", args=["10.1.2.3"])).content.decode()
    assert "private or reserved address" in body or "unknown" in body
    body = admin_client.get(reverse("ip_detail", args=["203.0.113.200"])).content.decode()
    assert "Network" in body and "Country" in body


def test_it_says_live_state_is_unknown_when_fail2ban_is_down(admin_client, dead_f2b, history):
    response = admin_client.get(reverse("ip_detail", args=[IP]))
    assert response.status_code == 200
    assert "Unknown: fail2ban is not answering" in response.content.decode()


def test_it_shows_where_the_ip_is_banned_now_with_time_left(admin_client, f2b_client):
    f2b_client.ban("sshd", [IP])
    body = admin_client.get(reverse("ip_detail", args=[IP])).content.decode()
    assert '<li data-jail="sshd"><span class="badge badge-bad">banned</span>' in body
    assert " left" in body
    assert "Unban from sshd" in body


def test_it_serves_page_and_fragment_from_one_url(admin_client, dead_f2b, history):
    url = reverse("ip_detail", args=[IP])
    full, fragment = admin_client.get(url), admin_client.get(url, **HX)
    assert "<html" in full.content.decode()
    assert fragment.content.decode().lstrip().startswith('<div id="ip-main"')
    assert "HX-Request" in full["Vary"] and "HX-Request" in fragment["Vary"]


@pytest.mark.parametrize("raw", ["not-an-ip", "999.1.1.1", "192.0.2.1x", "1.2.3"])
def test_it_gives_a_friendly_404_for_an_invalid_ip(admin_client, dead_f2b, raw):
    response = admin_client.get(f"/ip/{raw}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Not an IP address" in body and "is not a valid IPv4 or IPv6 address" in body
    assert "<html" in body  # the site's page, not a bare error


def test_it_redirects_to_the_canonical_address(admin_client, dead_f2b):
    response = admin_client.get("/ip/2001:DB8:0::1/")
    assert response.status_code == 302
    assert response["Location"] == "/ip/2001:db8::1/"


def test_the_header_search_redirects_to_the_ip_page(admin_client, dead_f2b):
    response = admin_client.get(reverse("ip_search"), {"q": " 198.51.100.7 "})
    assert response.status_code == 302
    assert response["Location"] == reverse("ip_detail", args=["198.51.100.7"])


@pytest.mark.parametrize("prefix", ["203.0.113.", "2001:db8:", "10"])
def test_the_header_search_takes_the_start_of_an_address_as_the_dashboard_does(
        admin_client, dead_f2b, prefix):
    """#28: it refused prefixes the dashboard's IP filter accepts."""
    from urllib.parse import urlencode
    response = admin_client.get(reverse("ip_search"), {"q": f" {prefix} "})
    assert response.status_code == 302
    assert response["Location"] == (f"{reverse('dashboard')}?"
                                    f"{urlencode({'ip': prefix, 'window': '365d'})}")


def test_the_header_search_explains_invalid_input(admin_client, dead_f2b):
    response = admin_client.get(reverse("ip_search"), {"q": "example.org"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "&#x27;example.org&#x27; is not a valid IPv4 or IPv6 address" in body
    assert 'aria-invalid="true"' in body
    assert admin_client.get(reverse("ip_search")).status_code == 200  # empty: just the form


def test_it_bans_and_unbans_from_the_ip_page(operator_client, f2b_client):
    url = reverse("ip_ban", args=[IP])
    response = operator_client.post(url, {"jail": "nginx-http-auth"}, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert f"Banned {IP} in nginx-http-auth." in body
    assert '<li data-jail="nginx-http-auth">' in body
    assert f2b_client.jails_of_ip(IP) == ["nginx-http-auth"]
    assert BanEvent.objects.get(ip=IP).actor == "operator"

    response = operator_client.post(reverse("ip_unban", args=[IP]),
                                    {"jail": "nginx-http-auth"}, **HX)
    body = response.content.decode()
    assert f"Unbanned {IP} from nginx-http-auth." in body
    assert 'data-testid="not-banned"' in body
    assert f2b_client.jails_of_ip(IP) == []
    assert BanEvent.objects.get(ip=IP).unbanned_by == "operator"
    assert list(AuditEntry.objects.filter(action__in=["ban", "unban"]).order_by("id")
                .values_list("action", "result")) == [("ban", "ok"), ("unban", "ok")]


def test_it_unbans_everywhere_without_a_jail(operator_client, f2b_client):
    f2b_client.ban("sshd", [IP])
    f2b_client.ban("nginx-http-auth", [IP])
    response = operator_client.post(reverse("ip_unban", args=[IP]), {})
    assert response.status_code == 302 and response["Location"] == f"/ip/{IP}/"
    assert f2b_client.jails_of_ip(IP) == []
    assert f"Unbanned {IP} from every jail." in operator_client.get(f"/ip/{IP}/").content.decode()


def test_it_shows_an_unknown_jail_inline(operator_client, f2b_client):
    response = operator_client.post(reverse("ip_ban", args=[IP]), {"jail": "nope"}, **HX)
    assert response.status_code == 200
    assert "no jail named &#x27;nope&#x27; is running" in response.content.decode()
    assert not BanEvent.objects.exists()
    assert AuditEntry.objects.get(action="ban").result == "failed"


def test_viewers_see_the_page_without_actions(viewer_client, f2b_client):
    f2b_client.ban("sshd", [IP])
    body = viewer_client.get(reverse("ip_detail", args=[IP])).content.decode()
    assert "banned</span> in" in body
    assert reverse("ip_unban", args=[IP]) not in body
    assert viewer_client.post(reverse("ip_unban", args=[IP]), {"jail": "sshd"}).status_code == 403
    assert f2b_client.jails_of_ip(IP) == ["sshd"]
