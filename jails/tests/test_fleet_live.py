"""Live bans published by each node (jails/fleet/live.py) against the real
sandboxed fail2ban, and how the pages read them for another node."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from accounts.models import AuditEntry
from conftest import wait_for
from jails.fail2ban import Fail2banClient
from jails.fleet import live
from jails.fleet.models import LiveBan, LiveBanState
from jails.live import state as live_state
from jails.models import BanEvent
from nodes.models import Node

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_publisher():
    live.forget()
    yield
    live.forget()


def _published(node="b"):
    return set(LiveBan.objects.filter(node=node).values_list("jail", "ip"))


def _register(name, *, up=True):
    now = timezone.now()
    expires = now + timedelta(seconds=30) if up else now - timedelta(seconds=5)
    return Node.objects.create(name=name, holder=f"{name}:1:x", heartbeat_at=now,
                               expires_at=expires, fail2ban_up=True, jails=["sshd"])


def test_a_node_publishes_its_live_bans_and_then_only_the_difference(f2b):
    client = Fail2banClient(str(f2b.socket))
    client.ban("sshd", ["192.0.2.1", "192.0.2.2"])
    live_state.settle("sshd", ["192.0.2.1", "192.0.2.2"], client=client)
    assert live.publish(node="b").startswith("2 live bans: 2 written")
    assert _published() == {("sshd", "192.0.2.1"), ("sshd", "192.0.2.2")}
    row = LiveBan.objects.get(node="b", ip="192.0.2.1")
    assert row.ends_at is not None and row.ends_at > timezone.now()
    assert live.publish(node="b") == "unchanged"

    client.unban("sshd", ["192.0.2.1"])
    client.ban("sshd", ["192.0.2.3"])
    live_state.settle("sshd", ["192.0.2.3"], client=client)
    assert wait_for(lambda: live_state.entry("sshd", "192.0.2.1", client=client) is None,
                    timeout=5, interval=0.05)
    assert live.publish(node="b") == "2 live bans: 1 written, 1 removed"
    assert _published() == {("sshd", "192.0.2.2"), ("sshd", "192.0.2.3")}
    assert LiveBanState.objects.get(node="b").known

    live.forget()  # a new worker process: rewrites its rows whole
    LiveBan.objects.create(node="b", jail="sshd", ip="198.51.100.9", bantime=600,
                           banned_at=timezone.now())  # left over from before
    live.publish(node="b")
    assert _published() == {("sshd", "192.0.2.2"), ("sshd", "192.0.2.3")}


def test_a_fail2ban_that_does_not_answer_makes_the_node_unknown(f2b, tmp_path):
    client = Fail2banClient(str(tmp_path / "nothing.sock"))
    assert "does not answer" in live.publish(client=client, node="b")
    check = LiveBanState.objects.get(node="b")
    assert not check.known and "does not answer" in check.note
    _register("b")
    assert "does not answer" in live.states(["b"])["b"].note


def test_readers_trust_only_an_up_node_that_checked_lately():
    now = timezone.now()
    _register("b")
    _register("c", up=False)
    _register("d")
    LiveBanState.objects.create(node="b", checked_at=now, known=True)
    LiveBanState.objects.create(node="c", checked_at=now, known=True)
    LiveBanState.objects.create(node="d", checked_at=now - timedelta(minutes=5), known=True)
    for node in "bcd":
        LiveBan.objects.create(node=node, jail="sshd", ip="192.0.2.7", bantime=600,
                               banned_at=now, ends_at=now + timedelta(seconds=600))
    LiveBan.objects.create(node="b", jail="sshd", ip="192.0.2.8", bantime=600,
                           banned_at=now - timedelta(hours=1),
                           ends_at=now - timedelta(seconds=1))  # expired: not live
    states = live.states(["b", "c", "d", "e"], ["192.0.2.7", "192.0.2.8"])
    assert states["b"].known and set(states["b"].bans) == {("sshd", "192.0.2.7")}
    assert not states["c"].known and "down" in states["c"].note
    assert not states["d"].known and "not published" in states["d"].note
    assert not states["e"].known and "not registered" in states["e"].note
    assert [b.ip for b in live.banned("b")] == ["192.0.2.7"]


def _archived(node, ip, ago=timedelta(seconds=30)):
    return BanEvent.objects.create(node=node, ip=ip, jail="sshd", bantime=600,
                                   banned_at=timezone.now() - ago)


def test_the_dashboard_says_what_another_node_holds_and_offers_its_buttons(admin_client):
    now = timezone.now()
    _register("b")
    _register("c", up=False)
    LiveBanState.objects.create(node="b", checked_at=now, known=True)
    held = _archived("b", "192.0.2.20")
    LiveBan.objects.create(node="b", jail="sshd", ip="192.0.2.20", bantime=600,
                           banned_at=held.banned_at, ends_at=held.banned_at + timedelta(minutes=10))
    _archived("b", "192.0.2.21")  # b does not hold it: lifted there
    _archived("c", "192.0.2.22")
    html = admin_client.get("/").content.decode()
    row = {ip: html[html.index(f'data-ip="{ip}"'):][:4000].split("</tr>")[0]
           for ip in ("192.0.2.20", "192.0.2.21", "192.0.2.22")}
    assert "banned</span>" in row["192.0.2.20"] and "Unban on b" in row["192.0.2.20"]
    assert 'name="node" value="b"' in row["192.0.2.20"]
    assert "lifted" in row["192.0.2.21"] and "Ban again on b" in row["192.0.2.21"]
    assert ">unknown<" in row["192.0.2.22"] and "node c is down" in row["192.0.2.22"]
    assert "Unban on c" not in row["192.0.2.22"] and "Ban again" not in row["192.0.2.22"]


def test_the_node_page_lists_its_live_bans_with_search_and_paging(admin_client):
    now = timezone.now()
    _register("b")
    LiveBanState.objects.create(node="b", checked_at=now, known=True)
    LiveBan.objects.bulk_create([
        LiveBan(node="b", jail="sshd", ip=f"192.0.2.{i}", bantime=600,
                banned_at=now - timedelta(seconds=i), ends_at=now + timedelta(seconds=600 - i))
        for i in range(1, 61)])
    html = admin_client.get("/nodes/b/").content.decode()
    assert "1\u201350 of 60" in html and "192.0.2.1<" in html and "Unban" in html
    assert "192.0.2.60<" not in html  # the oldest: page 2
    page2 = admin_client.get("/nodes/b/?page=2", HTTP_HX_REQUEST="true").content.decode()
    assert page2.lstrip().startswith('<section id="node-banned">') and "192.0.2.60<" in page2
    found = admin_client.get("/nodes/b/?q=192.0.2.5").content.decode()
    assert "1\u201311 of 11" in found  # .5 and .50 to .59
    missing = admin_client.get("/nodes/b/?q=203.0.113.").content.decode()
    assert "No address banned on b contains" in missing
    Node.objects.filter(pk="b").update(expires_at=now - timedelta(seconds=1))
    down = admin_client.get("/nodes/b/").content.decode()
    assert "Its live bans are unknown: node b is down" in down and "192.0.2.1<" not in down


def test_unban_on_a_node_page_is_validated_and_refused_for_a_down_node(admin_client):
    _register("b", up=False)
    bad = admin_client.post("/nodes/b/unban/", {"ip": "not-an-ip", "jail": "sshd"},
                            HTTP_HX_REQUEST="true").content.decode()
    assert "Nothing was unbanned" in bad
    down = admin_client.post("/nodes/b/unban/", {"ip": "192.0.2.9", "jail": "sshd"},
                             HTTP_HX_REQUEST="true").content.decode()
    assert "node b is down" in down


def test_the_ip_page_shows_the_other_nodes_word_on_the_address(admin_client):
    now = timezone.now()
    _register("b")
    _register("c", up=False)
    LiveBanState.objects.create(node="b", checked_at=now, known=True)
    LiveBan.objects.create(node="b", jail="sshd", ip="192.0.2.30", bantime=600, banned_at=now,
                           ends_at=now + timedelta(minutes=10))
    _archived("b", "192.0.2.30")
    html = admin_client.get("/ip/192.0.2.30/").content.decode()
    part = html[html.index('data-testid="elsewhere"'):].split("</ul>")[0]
    assert "banned</span> in sshd" in part and "Unban on b" in part
    assert "c</a>: <span class=\"muted\">unknown (node c is down" in part
    refused = admin_client.post("/ip/192.0.2.30/unban/", {"jail": "sshd", "node": "c"},
                                HTTP_HX_REQUEST="true").content.decode()
    assert "node c is down" in refused
    bad = admin_client.post("/ip/192.0.2.30/unban/", {"jail": "sshd", "node": "../x"},
                            HTTP_HX_REQUEST="true").content.decode()
    assert "Nothing was unbanned" in bad


def test_a_node_publishes_its_jails_settings_and_rereads_them_after_a_change(f2b):
    from jails import health
    from jails.fleet import commands

    health.forget_jail_settings()
    facts = health.node_facts()
    sshd = facts["jail_settings"]["sshd"]
    assert sshd["maxretry"] >= 1 and sshd["bantime"] != 0 and "192.0.2.77" not in sshd["ignore_ips"]
    Fail2banClient(str(f2b.socket)).add_ignore("sshd", "192.0.2.77")
    assert "192.0.2.77" not in health.node_facts()["jail_settings"]["sshd"]["ignore_ips"]  # kept
    # A command run on this node (its worker's execute) makes the next facts re-read them.
    reply = commands.execute("ignore", {"jail": "sshd", "value": "198.51.100.0/24"}, "root",
                             settings_node(), deadline=time.time() + 60)
    assert reply == {"ok": True, "message": "sshd now ignores 198.51.100.0/24 (until fail2ban "
                                            "reloads; put it in the jail's .local to keep it)."}
    ignores = health.node_facts()["jail_settings"]["sshd"]["ignore_ips"]
    assert {"192.0.2.77", "198.51.100.0/24"} <= set(ignores)
    reply = commands.execute("ignore", {"jail": "sshd", "value": "198.51.100.0/24",
                                        "remove": True}, "root", settings_node(),
                             deadline=time.time() + 60)
    assert reply["ok"] and "198.51.100.0/24" not in health.node_facts()["jail_settings"][
        "sshd"]["ignore_ips"]
    Fail2banClient(str(f2b.socket)).remove_ignore("sshd", "192.0.2.77")


def test_unban_all_and_ignore_are_commands_with_checked_arguments(f2b):
    from jails.fail2ban import InvalidInput
    from jails.fleet import commands

    client = Fail2banClient(str(f2b.socket))
    client.ban("sshd", ["192.0.2.40", "192.0.2.41"])
    assert commands.run("unbanall", {"jail": "sshd"}, "root") == {
        "ok": True, "message": "Unbanned all 2 IPs from sshd."}
    assert client.jail_status("sshd").banned_ips == []
    for command, args in (("unbanall", {}), ("ignore", {"jail": "sshd", "value": "no such host!"}),
                          ("ignore", {"value": "192.0.2.1"})):
        with pytest.raises(InvalidInput):
            commands.clean(command, args)


def settings_node() -> str:
    from django.conf import settings

    return settings.BANGUI_NODE


def test_another_nodes_jail_page_shows_what_it_published_and_checks_its_forms(admin_client):
    """/nodes/b/jails/sshd/: the jail page of this host, filled from what
    b's worker published (counters, settings, ignore list, live bans); its
    forms refuse bad input before anything is sent."""
    now = timezone.now()
    node = _register("b")
    node.jail_settings = {"sshd": {"bantime": 600, "findtime": 300, "maxretry": 5,
                                   "ignore_ips": ["192.0.2.0/24"], "ignore_self": True}}
    node.jail_counts = {"sshd": {"banned": 1, "failed": 3, "total_banned": 9}}
    node.save()
    LiveBanState.objects.create(node="b", checked_at=now, known=True)
    LiveBan.objects.create(node="b", jail="sshd", ip="198.51.100.60", bantime=600,
                           banned_at=now, ends_at=now + timedelta(seconds=600))
    html = admin_client.get("/nodes/b/jails/sshd/").content.decode()
    assert "Jail <span class=\"mono\">sshd</span> on <span class=\"mono\">b</span>" in html
    assert 'data-testid="maxretry">5<' in html and "192.0.2.0/24" in html
    assert "198.51.100.60</a>" in html and "Unban all" in html
    assert 'action="/nodes/b/jails/sshd/stop/"' in html
    # No config published yet (an older worker): no settings form to offer.
    assert "Pause (idle)" in html and "Change settings" not in html
    node_page = admin_client.get("/nodes/b/").content.decode()
    assert 'href="/nodes/b/jails/sshd/"' in node_page
    for url, data, said in (("ignore/add/", {"value": "not an address"}, "Not done"),
                            ("ban/", {"ips": "192.0.2.999"}, "Not done"),
                            ("settings/", {"maxretry": "0"}, "nothing was changed")):
        page = admin_client.post(f"/nodes/b/jails/sshd/{url}", data,
                                 HTTP_HX_REQUEST="true").content.decode()
        assert said in page, (url, page[-2000:])
    assert admin_client.get("/nodes/b/jails/nope/").status_code == 404
    assert admin_client.get("/nodes/nobody/jails/sshd/").status_code == 404
    # The node page's "Reload all jails": queued to b (up), answered later.
    page = admin_client.post("/nodes/b/jail/", HTTP_HX_REQUEST="true").content.decode()
    assert "Waiting for b to answer" in page
    assert AuditEntry.objects.get(action="jail.reload", node="b").target == "all jails"




def test_a_publish_writes_in_bounded_transactions_and_a_cut_one_is_redone(f2b, monkeypatch):
    """Rows go in WRITE_BATCH per transaction (the other writers get the
    lock between them); the fingerprint is noted last, so a publish cut
    short (a database error in its second batch) is compared whole and
    completed by the next one."""
    client = Fail2banClient(str(f2b.socket))
    ips = [f"192.0.2.{i}" for i in range(10, 15)]
    client.ban("sshd", ips)
    live_state.settle("sshd", ips, client=client)
    monkeypatch.setattr(live, "WRITE_BATCH", 2)
    calls, real = [], LiveBan.objects.bulk_create

    def failing_second(rows, **kwargs):
        calls.append(len(rows))
        if len(calls) == 2:
            raise DatabaseError("database is locked")  # a fault
        return real(rows, **kwargs)

    monkeypatch.setattr(LiveBan.objects, "bulk_create", failing_second)
    with pytest.raises(DatabaseError):
        live.publish(node="b")
    assert len(_published()) == 2  # the first batch stayed; the rest was not noted
    monkeypatch.setattr(LiveBan.objects, "bulk_create", real)
    assert live.publish(node="b") == "5 live bans: 3 written, 0 removed"
    assert {ip for _, ip in _published()} == set(ips)
    assert live.publish(node="b") == "unchanged"
