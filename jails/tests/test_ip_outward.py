"""The IP page looks outward without calling out (issue #28): plain links
to RDAP, AbuseIPDB, Shodan and the network's ASN page; BanGUI fetches none."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from geo.models import GeoCacheEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_f2b(settings, tmp_path):
    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")


def _links(body: str) -> dict[str, str]:
    section = re.search(r'data-testid="outward">(.*?)</dd>', body, re.S).group(1)
    return {text: tag for tag, text in re.findall(r"(<a [^>]*>)([^<]*)</a>", section)}


def test_a_public_address_links_to_rdap_abuseipdb_shodan_and_its_asn(admin_client, dead_f2b):
    GeoCacheEntry.objects.create(ip="8.8.4.4", country_code="US", country_name="United States",
                                 asn=15169, org="GOOGLE", source="local",
                                 resolved_at=timezone.now(), last_seen=timezone.now())
    body = admin_client.get(reverse("ip_detail", args=["8.8.4.4"])).content.decode()
    links = _links(body)
    assert set(links) == {"RDAP (whois)", "AbuseIPDB", "Shodan", "AS15169 on bgp.tools"}
    assert 'href="https://rdap.org/ip/8.8.4.4"' in links["RDAP (whois)"]
    assert 'href="https://www.abuseipdb.com/check/8.8.4.4"' in links["AbuseIPDB"]
    assert 'href="https://www.shodan.io/host/8.8.4.4"' in links["Shodan"]
    assert 'href="https://bgp.tools/as/15169"' in links["AS15169 on bgp.tools"]
    assert all('rel="noopener noreferrer"' in tag for tag in links.values())


def test_an_ipv6_address_is_linked_as_is_and_no_asn_link_without_an_asn(admin_client,
                                                                       dead_f2b):
    GeoCacheEntry.objects.create(ip="2a00:1450:4001:80b::200e", country_code="DE", asn=None,
                                 source="local", resolved_at=timezone.now(),
                                 last_seen=timezone.now())
    body = admin_client.get(reverse("ip_detail", args=["2a00:1450:4001:80b::200e"])) \
        .content.decode()
    links = _links(body)
    assert set(links) == {"RDAP (whois)", "AbuseIPDB", "Shodan"}
    assert "https://rdap.org/ip/2a00:1450:4001:80b::200e" in links["RDAP (whois)"]


def test_a_private_address_has_no_outward_links(admin_client, dead_f2b):
    body = admin_client.get(reverse("ip_detail", args=["10.1.2.3"])).content.decode()
    assert _links(body) == {}
    assert "not a public address" in body


def test_nothing_is_fetched_for_the_page(admin_client, dead_f2b, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the IP page must not call out")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert admin_client.get(reverse("ip_detail", args=["8.8.4.4"])).status_code == 200
