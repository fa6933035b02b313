"""Network bans (issue #28): a CIDR range banned through the UI is one ban
in fail2ban (its ``banip`` takes a network), an address inside shows it on
its page, an IPv6 address's /64 is banned from its row or page, and a
network too wide is refused with nothing changed (docs/archive.md,
"Network and permanent bans")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from jails.archive import sync as archive
from jails.fail2ban import InvalidInput, validation
from jails.models import BanEvent, ip_sort_key

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def banip(client, jail: str = "sshd") -> list[str]:
    """fail2ban's own list: ``get JAIL banip``."""
    return list(client.call("get", jail, "banip"))


# -- validation: what a ban may name ------------------------------------------------
@pytest.mark.parametrize(("given", "canonical"), [
    ("203.0.113.0/24", "203.0.113.0/24"),
    ("203.0.113.77/24", "203.0.113.0/24"),  # host bits cleared, as fail2ban does
    (" 198.51.100.0/16 ", "198.51.0.0/16"),  # the widest IPv4 network
    ("203.0.113.9/32", "203.0.113.9"),  # a /32 is its address
    ("2001:DB8:1:2::5/64", "2001:db8:1:2::/64"),
    ("2001:db8::/32", "2001:db8::/32"),  # the widest IPv6 network
    ("2001:db8::1/128", "2001:db8::1"),
    ("203.0.113.9", "203.0.113.9"),
])
def test_a_ban_target_is_an_address_or_a_network_as_fail2ban_lists_it(given, canonical):
    assert validation.ban_target(given) == canonical


@pytest.mark.parametrize("given", ["10.0.0.0/8", "0.0.0.0/0", "198.51.0.0/15", "2001:db8::/31",
                                   "::/0", "203.0.113.0/33", "203.0.113.0/", "not-a-net/24"])
def test_too_wide_or_broken_networks_are_refused(given):
    with pytest.raises(InvalidInput) as caught:
        validation.ban_target(given)
    if given in ("10.0.0.0/8", "0.0.0.0/0", "198.51.0.0/15"):
        assert "too wide to ban" in str(caught.value) and "/16 or narrower" in str(caught.value)
    if given in ("2001:db8::/31", "::/0"):
        assert "/32 or narrower" in str(caught.value)


def test_the_networks_that_may_hold_an_address():
    v4 = validation.containing_networks("203.0.113.77")
    assert v4[0] == "203.0.113.76/31" and v4[-1] == "203.0.0.0/16" and len(v4) == 16
    assert "203.0.113.0/24" in v4
    v6 = validation.containing_networks("2001:db8:1:2::99")
    assert "2001:db8:1:2::/64" in v6 and v6[-1] == "2001:db8::/32" and len(v6) == 96


def test_a_range_sorts_as_its_network_address_and_says_it_is_one():
    assert ip_sort_key("203.0.113.0/24") == ip_sort_key("203.0.113.0")
    event = BanEvent(ip="203.0.113.0/24", jail="sshd", banned_at=timezone.now(), bantime=60)
    assert event.is_range and not BanEvent(ip="203.0.113.1").is_range


def test_a_range_gets_its_network_addresss_country(monkeypatch):
    asked = []

    class Cache:
        def lookup_batch(self, ips):
            asked.append(sorted(ips))
            return {ip: type("R", (), {"country_code": "DE"})() for ip in ips
                    if ip.startswith("203.")}

    monkeypatch.setattr("geo.service.get_cache", lambda: Cache())
    codes = archive.lookup_countries(["203.0.113.0/24", "198.51.100.7", "2001:db8:1:2::/64"])
    assert codes == {"203.0.113.0/24": "DE"}
    assert asked == [["198.51.100.7", "2001:db8:1:2::", "203.0.113.0"]]  # no "/" reaches geo


# -- through the UI, into fail2ban -----------------------------------------------------
@pytest.mark.fail2ban
def test_a_24_banned_on_the_dashboard_is_one_ban_in_fail2ban_and_shows_on_an_address_inside(
        operator_client, f2b_client):
    response = operator_client.post(reverse("dashboard_ban") + "?window=7d",
                                    {"ip": "203.0.113.77/24", "jail": "sshd"}, **HX)
    body = response.content.decode()
    assert "Banned 203.0.113.0/24 in sshd." in body
    assert "203.0.113.0/24" in banip(f2b_client)
    assert f2b_client.jails_of_ip("203.0.113.0/24") == ["sshd"]
    event = BanEvent.objects.get(ip="203.0.113.0/24")
    assert (event.jail, event.origin, event.actor) == ("sshd", "manual", "operator")
    assert '<tr data-ip="203.0.113.0/24"' in body  # its row, with its page's link
    assert f'href="{reverse("ip_detail", args=["203.0.113.0/24"])}"' in body
    assert AuditEntry.objects.filter(action="ban", target="sshd 203.0.113.0/24",
                                     result="ok").exists()

    # fail2ban's "banned IP" does not see the range; the page does.
    assert f2b_client.jails_of_ip("203.0.113.5") == []
    page = operator_client.get(reverse("ip_detail", args=["203.0.113.5"])).content.decode()
    assert "banned</span> <span>(range" in page and 'data-range="203.0.113.0/24"' in page
    assert "203.0.113.0/24</a> in <a" in page
    assert "(range <a" in page  # the range's archived ban in the history too
    other = operator_client.get(reverse("ip_detail", args=["203.0.114.5"])).content.decode()
    assert 'data-testid="range-ban"' not in other
    # the range's own page
    own = operator_client.get(reverse("ip_detail", args=["203.0.113.0/24"]))
    assert own.status_code == 200 and "a network" in own.content.decode()
    assert 'data-jail="sshd"' in own.content.decode()

    # unbanned from an address inside it: the range goes
    response = operator_client.post(reverse("ip_unban", args=["203.0.113.5"]),
                                    {"jail": "sshd", "network": "203.0.113.0/24"}, **HX)
    assert "Unbanned 203.0.113.0/24 from sshd." in response.content.decode()
    assert "203.0.113.0/24" not in banip(f2b_client)
    event.refresh_from_db()
    assert event.unbanned_by == "operator"


@pytest.mark.fail2ban
def test_an_ipv6_64_is_banned_from_an_addresss_page(operator_client, f2b_client):
    page = operator_client.get(reverse("ip_detail", args=["2001:db8:1:2::5"])).content.decode()
    assert 'name="network" value="2001:db8:1:2::/64"' in page and "Ban its /64" in page
    response = operator_client.post(reverse("ip_ban", args=["2001:db8:1:2::5"]),
                                    {"jail": "sshd", "network": "2001:db8:1:2::/64"}, **HX)
    assert "Banned 2001:db8:1:2::/64 in sshd." in response.content.decode()
    assert "2001:db8:1:2::/64" in banip(f2b_client)
    assert "2001:db8:1:2::5" not in banip(f2b_client)
    inside = operator_client.get(reverse("ip_detail", args=["2001:db8:1:2:ffff::1"]))
    assert "(range <a" in inside.content.decode() and "2001:db8:1:2::/64</a> in" in \
        inside.content.decode()


@pytest.mark.fail2ban
def test_an_ipv6_rows_ban_its_64_button_bans_the_network(operator_client, f2b_client):
    BanEvent.objects.create(ip="2001:db8:5:6::7", jail="sshd", bantime=600,
                            banned_at=timezone.now() - timedelta(hours=2))
    BanEvent.objects.create(ip="192.0.2.7", jail="sshd", bantime=600,
                            banned_at=timezone.now() - timedelta(hours=2))
    body = operator_client.get("/").content.decode()
    row = body.split('<tr data-ip="2001:db8:5:6::7"', 1)[1].split("</tr>", 1)[0]
    assert 'name="ip" value="2001:db8:5:6::/64"' in row and "Ban its /64" in row
    v4row = body.split('<tr data-ip="192.0.2.7"', 1)[1].split("</tr>", 1)[0]
    assert "Ban its /64" not in v4row
    response = operator_client.post(reverse("dashboard_ban"),
                                    {"ip": "2001:db8:5:6::/64", "jail": "sshd"}, **HX)
    assert "Banned 2001:db8:5:6::/64 in sshd." in response.content.decode()
    assert "2001:db8:5:6::/64" in banip(f2b_client)


@pytest.mark.fail2ban
@pytest.mark.parametrize("wide", ["10.0.0.0/8", "0.0.0.0/0", "2001:db8::/16"])
def test_a_network_too_wide_is_refused_and_nothing_changes(operator_client, f2b_client, wide):
    before = banip(f2b_client)
    response = operator_client.post(reverse("dashboard_ban"), {"ip": wide, "jail": "sshd"},
                                    **HX)
    body = response.content.decode()
    assert "Nothing was banned" in body and "too wide to ban" in body
    assert banip(f2b_client) == before
    assert not BanEvent.objects.exists()
    assert AuditEntry.objects.filter(action="ban", result="failed").exists()
    # the typed value stays in the form's answer, to correct it
    assert "too wide" in body


@pytest.mark.fail2ban
def test_the_fleet_command_refuses_a_wide_network_before_anything_is_sent(f2b_client):
    from jails.fleet import commands

    answer = commands.run("ban", {"jail": "sshd", "ips": ["10.0.0.0/8"]}, "cli")
    assert not answer["ok"] and "too wide" in answer["message"]
    assert banip(f2b_client) == []
    answer = commands.run("ban", {"jail": "sshd", "ips": ["198.51.100.0/24"]}, "cli")
    assert answer["ok"] and banip(f2b_client) == ["198.51.100.0/24"]


@pytest.mark.fail2ban
def test_a_network_that_does_not_hold_the_pages_address_is_refused(operator_client,
                                                                    f2b_client):
    response = operator_client.post(reverse("ip_ban", args=["2001:db8:1:2::5"]),
                                    {"jail": "sshd", "network": "2001:db8:9:9::/64"}, **HX)
    assert "is not a network that holds 2001:db8:1:2::5" in response.content.decode()
    assert banip(f2b_client) == []


def test_the_map_and_dashboard_take_a_range_row(admin_client, settings, tmp_path):
    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")
    BanEvent.objects.create(ip="203.0.113.0/24", jail="sshd", bantime=600, country_code="DE",
                            banned_at=timezone.now() - timedelta(hours=1))
    assert admin_client.get("/").status_code == 200
    assert admin_client.get("/?ip=203.0.113.0/24").status_code == 200
    response = admin_client.get(reverse("world_map") + "?country=DE")
    assert response.status_code == 200
    assert 'href="/ip/203.0.113.0/24/"' in response.content.decode()  # its recent bans


@pytest.fixture
def nft_f2b(tmp_path_factory, settings, fail2ban_install):
    """A fail2ban of its own with a jail whose action is fail2ban's nftables
    (its set has no "flags interval"); nft itself never runs: fail2ban starts
    an action on its first ban, which the refusal prevents."""
    from pathlib import Path

    from jails.fail2ban.testing import Sandbox, SandboxJail

    sandbox = Sandbox(Path(tmp_path_factory.mktemp("f2b-nft")), install=fail2ban_install,
                      jails=(SandboxJail("sshd", "sshd", "auth.log"),),
                      extra_jail_conf="[nft]\nenabled = true\nfilter = sshd\n"
                                      "logpath = /dev/null\naction = nftables[type=allports]\n")
    sandbox.write_config()
    sandbox.start()
    settings.FAIL2BAN_SOCKET = str(sandbox.socket)
    settings.FAIL2BAN_CONFIG_DIR = str(sandbox.confdir)
    yield sandbox
    sandbox.stop()


@pytest.mark.fail2ban
def test_a_jail_whose_nftables_action_cannot_take_a_network_refuses_it(nft_f2b):
    from jails.fail2ban import Fail2banClient
    from jails.fleet import commands

    client = Fail2banClient(str(nft_f2b.socket))
    start = str(client.call("get", "nft", "action", "nftables", "actionstart"))
    answer = commands.run("ban", {"jail": "nft", "ips": ["203.0.113.0/24"]}, "cli")
    if "interval" in start:  # fail2ban 1.1's nftables set takes networks
        assert answer["ok"], answer
        assert list(client.call("get", "nft", "banip")) == ["203.0.113.0/24"]
        return
    # 1.0.2's does not
    assert not answer["ok"] and "nftables" in answer["message"]
    assert "flags interval" in answer["message"]
    assert list(client.call("get", "nft", "banip")) == []
    assert not BanEvent.objects.exists()
    # the same server's jail with the dummy action takes the network
    answer = commands.run("ban", {"jail": "sshd", "ips": ["203.0.113.0/24"]}, "cli")
    assert answer["ok"], answer
