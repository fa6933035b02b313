"""allowlist.sync against the real sandboxed fail2ban (this host's node):
entries land in the jails' ignore lists, come back after a restart or a
reload, leave at expiry; the config's own ignoreip is never touched; and
fail2ban bans an address again once its entry is gone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from allowlist import sync
from allowlist.models import AllowEntry, Applied, address_notes
from allowlist.tests.conftest import CONFIG_IGNORED
from conftest import wait_for
from jails.live import actions

pytestmark = pytest.mark.django_db

NET = "198.51.100.0/24"


def _entry(value=NET, **fields) -> AllowEntry:
    entry = AllowEntry(value=value, added_by="alice", **fields)
    entry.full_clean()
    entry.save()
    return entry


def _lists(client) -> dict[str, set[str]]:
    return {jail: set(client.ignore_list(jail)) for jail in client.jail_names()}


def test_it_puts_an_entry_in_every_jails_ignore_list(clean_ignore_lists, f2b_client, settings):
    _entry()
    did = sync.sync()
    lists = _lists(f2b_client)
    assert set(lists) == {"sshd", "nginx-http-auth"}
    assert all(values == CONFIG_IGNORED | {NET} for values in lists.values())
    assert len(did) == 2
    assert set(Applied.objects.values_list("node", "jail", "value")) == {
        (settings.BANGUI_NODE, "sshd", NET), (settings.BANGUI_NODE, "nginx-http-auth", NET)}
    assert AuditEntry.objects.filter(action="allowlist.apply").count() == 2
    assert sync.sync() == []  # nothing to do the second time


def test_a_one_jail_entry_and_another_nodes_entry_stay_out_of_the_others(
        clean_ignore_lists, f2b_client):
    _entry("192.0.2.7", jail="sshd")
    _entry("192.0.2.8", node="elsewhere")
    _entry("192.0.2.9", label="web")  # this node carries no label
    sync.sync()
    lists = _lists(f2b_client)
    assert lists["sshd"] == CONFIG_IGNORED | {"192.0.2.7"}
    assert lists["nginx-http-auth"] == CONFIG_IGNORED


@pytest.mark.parametrize("how", ["restart", "reload"])
def test_it_comes_back_after_fail2ban_restarts_or_reloads(clean_ignore_lists, f2b_client, how):
    _entry()
    sync.sync()
    clean_ignore_lists.fail2ban_client(how)
    clean_ignore_lists.wait_until_ready()
    wait_for(lambda: set(f2b_client.jail_names()) == {"sshd", "nginx-http-auth"})
    assert NET not in f2b_client.ignore_list("sshd")  # fail2ban read its config again
    sync.sync()  # the worker's tick
    assert all(NET in values for values in _lists(f2b_client).values())


def test_it_leaves_at_expiry_and_fail2ban_bans_in_it_again(clean_ignore_lists, f2b_client):
    entry = _entry(expires_at=timezone.now() + timedelta(hours=1))
    sync.sync()
    clean_ignore_lists.write_failures("sshd", "198.51.100.7", count=3)
    wait_for(lambda: "Ignore 198.51.100.7" in clean_ignore_lists.server_log.read_text())
    assert "198.51.100.7" not in f2b_client.jail_status("sshd").banned_ips

    AllowEntry.objects.filter(pk=entry.pk).update(expires_at=timezone.now())
    sync.sync()  # the first tick after expiry
    assert all(values == CONFIG_IGNORED for values in _lists(f2b_client).values())
    assert not Applied.objects.exists()
    assert AuditEntry.objects.filter(action="allowlist.withdraw").count() == 2

    clean_ignore_lists.write_failures("sshd", "198.51.100.8", count=3)
    wait_for(lambda: "198.51.100.8" in f2b_client.jail_status("sshd").banned_ips)


def test_it_never_removes_the_configs_own_ignoreip(clean_ignore_lists, f2b_client):
    entry = _entry("127.0.0.1/8")  # the same as the sandbox's [DEFAULT] ignoreip
    sync.sync()
    assert not Applied.objects.exists()  # it was there already: not BanGUI's
    entry.delete()
    sync.sync()
    assert all(values == CONFIG_IGNORED for values in _lists(f2b_client).values())


def test_it_removes_only_what_no_entry_wants(clean_ignore_lists, f2b_client):
    wide = _entry()
    _entry(NET, jail="sshd")
    sync.sync()
    wide.delete()
    sync.sync()
    lists = _lists(f2b_client)
    assert NET in lists["sshd"] and NET not in lists["nginx-http-auth"]


def test_a_ban_of_an_allow_listed_address_says_which_entry_and_who(clean_ignore_lists):
    _entry(note="office VPN")
    reasons = actions.ban_warnings("sshd", ["198.51.100.20"], None)
    assert any("allow-listed (198.51.100.0/24, every jail on every node, added by alice"
               in r and "office VPN" in r for r in reasons), reasons
    assert not any("allow-listed" in r for r in actions.ban_warnings("sshd", ["192.0.2.1"], None))


def test_it_says_which_entries_protect_an_address(db):
    _entry(note="office VPN")
    _entry("192.0.2.0/24", expires_at=timezone.now())  # expired: protects nothing
    assert address_notes("198.51.100.20") == [
        f"Allow-listed (198.51.100.0/24, every jail on every node, added by alice on "
        f"{timezone.now():%Y-%m-%d}: office VPN)"]
    assert address_notes("192.0.2.1") == [] and address_notes("2001:db8::1") == []


def test_a_host_name_goes_into_the_ignore_lists_as_it_is(clean_ignore_lists, f2b_client):
    _entry("VPN.Example.org", jail="sshd")
    sync.sync()
    assert "vpn.example.org" in f2b_client.ignore_list("sshd")
    AllowEntry.objects.all().delete()
    sync.sync()
    assert set(f2b_client.ignore_list("sshd")) == CONFIG_IGNORED
