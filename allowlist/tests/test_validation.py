"""What an allow-list entry may be: jails.fail2ban.validation's host-name
check, the canonical value, the expiry's duration syntax."""

from datetime import timedelta

import pytest

from allowlist.forms import duration
from allowlist.models import canonical
from jails.fail2ban import InvalidInput, validation


@pytest.mark.parametrize("name", ["vpn.example.org", "localhost", "a-b.example",
                                  "VPN.Example.ORG."])
def test_it_takes_host_names(name):
    assert validation.host_name(name) == name.lower().rstrip(".")


@pytest.mark.parametrize("name", ["", "-bad.example", "bad-.example", "a..b", "192.0.2",
                                  "under_score.example", "x" * 64 + ".example",
                                  "has space.example", "--jail", "a/b"])
def test_it_refuses_what_is_no_host_name(name):
    with pytest.raises(InvalidInput):
        validation.host_name(name)


def test_the_ignore_list_takes_addresses_networks_and_names():
    assert validation.ignore_value("198.51.100.9/24") == "198.51.100.0/24"
    assert validation.ignore_value(" 2001:db8::1 ") == "2001:db8::1"
    assert validation.ignore_value("vpn.example.org") == "vpn.example.org"
    with pytest.raises(InvalidInput, match="host name"):
        validation.ignore_value("192.0.2.999")


def test_it_writes_values_as_fail2ban_lists_them():
    assert canonical("192.0.2.7/32") == "192.0.2.7"
    assert canonical("2001:db8::1/128") == "2001:db8::1"
    assert canonical("127.0.0.1/8") == "127.0.0.0/8"
    assert canonical("Office.Example.org") == "office.example.org"


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("8h", 28800), ("1d12h", 129600), ("2w", 1209600), ("1h 30m", 5400),
    ("90", 90), ("1hour+30min", 5400), ("3 days", 259200)])
def test_it_reads_durations(text, seconds):
    assert duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0", "soon", "5x", "-1", "100000w"])
def test_it_refuses_bad_durations(text):
    with pytest.raises(ValueError):
        duration(text)
