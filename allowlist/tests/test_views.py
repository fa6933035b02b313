"""The /allowlist/ page: everyone signed in reads it; support and above
add ("Add my address" too) and remove; each change is audited and reaches
the sandboxed fail2ban at once."""

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from allowlist.models import AllowEntry, Applied

pytestmark = pytest.mark.django_db

NET = "198.51.100.0/24"


def test_it_lists_entries_and_the_configs_own_ignoreip_to_a_viewer(viewer_client, f2b):
    AllowEntry.objects.create(value=NET, note="office", added_by="alice")
    page = viewer_client.get("/allowlist/")
    html = page.content.decode()
    assert page.status_code == 200
    assert NET in html and "office" in html and "alice" in html and "every jail" in html
    assert "127.0.0.0/8" in html  # sshd's ignoreip from the config, read-only
    assert "Add my address" not in html and "Remove" not in html


def test_a_viewer_may_not_change_it(viewer_client, f2b):
    entry = AllowEntry.objects.create(value=NET, added_by="alice")
    assert viewer_client.post("/allowlist/add/", {"value": "192.0.2.1"}).status_code == 403
    assert viewer_client.post(f"/allowlist/{entry.pk}/remove/").status_code == 403
    assert list(AllowEntry.objects.values_list("value", flat=True)) == [NET]


def test_anonymous_is_sent_to_log_in(client, setup_done):
    assert client.get("/allowlist/").status_code == 302
    assert client.post("/allowlist/add/", {"value": "192.0.2.1"}).status_code == 302
    assert not AllowEntry.objects.exists()


def test_support_adds_an_entry_that_applies_at_once(support_client, clean_ignore_lists,
                                                     f2b_client):
    page = support_client.post("/allowlist/add/", {
        "value": "198.51.100.9/24", "note": "office", "expires": "2h", "jail": "sshd"},
        follow=True)
    entry = AllowEntry.objects.get()
    assert (entry.value, entry.jail, entry.added_by) == (NET, "sshd", "support")
    assert 7100 < (entry.expires_at - timezone.now()).total_seconds() <= 7200
    assert NET in f2b_client.ignore_list("sshd")
    assert NET not in f2b_client.ignore_list("nginx-http-auth")
    assert Applied.objects.filter(jail="sshd", value=NET).exists()
    assert ("Allow-listed 198.51.100.0/24 (jail sshd on every node). Added now: sshd."
            in page.content.decode())
    assert AuditEntry.objects.filter(action="allowlist.add", target=NET).exists()
    assert AuditEntry.objects.filter(action="jail.ignore_add").exists()  # the dispatch's row


def test_add_my_address_allow_lists_where_the_browser_comes_from(
        support_client, clean_ignore_lists, f2b_client):
    page = support_client.get("/allowlist/", REMOTE_ADDR="203.0.113.50")
    assert 'value="203.0.113.50"' in page.content.decode()
    support_client.post("/allowlist/add/", {"value": "203.0.113.50", "note": "mine"},
                        REMOTE_ADDR="203.0.113.50")
    assert AllowEntry.objects.get().value == "203.0.113.50"
    assert "203.0.113.50" in f2b_client.ignore_list("nginx-http-auth")


def test_bad_input_says_why_and_changes_nothing(support_client, f2b):
    page = support_client.post("/allowlist/add/", {"value": "192.0.2.999", "expires": "soon"})
    html = page.content.decode()
    assert page.status_code == 400
    assert "not a valid IP address, CIDR network or host name" in html
    assert "not a duration" in html
    assert not AllowEntry.objects.exists()


def test_remove_takes_it_out_of_the_ignore_lists(support_client, clean_ignore_lists,
                                                 f2b_client):
    support_client.post("/allowlist/add/", {"value": NET})
    entry = AllowEntry.objects.get()
    assert NET in f2b_client.ignore_list("sshd")
    page = support_client.post(f"/allowlist/{entry.pk}/remove/", follow=True)
    assert ("Removed 198.51.100.0/24 (every jail on every node) from the allow-list. Removed "
            "now: nginx-http-auth, sshd." in page.content.decode())
    assert NET not in f2b_client.ignore_list("sshd")
    assert "127.0.0.0/8" in f2b_client.ignore_list("sshd")
    assert AuditEntry.objects.filter(action="allowlist.remove", target=NET).exists()


def test_banning_an_allow_listed_address_asks_first(admin_client, clean_ignore_lists,
                                                    f2b_client):
    AllowEntry.objects.create(value=NET, added_by="alice", note="office VPN")
    page = admin_client.post("/jails/sshd/ban/", {"ips": "198.51.100.20"})
    html = page.content.decode()
    assert "allow-listed" in html and "added by alice" in html, html
    assert "198.51.100.20" not in f2b_client.jail_status("sshd").banned_ips


def test_the_ip_page_says_which_entry_protects_an_address(viewer_client, f2b):
    AllowEntry.objects.create(value=NET, added_by="alice", note="office VPN")
    html = viewer_client.get("/ip/198.51.100.20/").content.decode()
    assert "Allow-listed (198.51.100.0/24, every jail on every node, added by alice" in html
    assert "office VPN" in html
    assert "Allow-listed" not in viewer_client.get("/ip/192.0.2.1/").content.decode()
