"""The archive names the node of every ban (docs/fleet.md): the sync, manual
bans and unbans write this process's BANGUI_NODE; the node scope of the
queries and pages reads one node's rows; all nodes is the default."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import wait_for
from jails.archive import queries, rollup
from jails.archive import sync as archive
from jails.models import BanEvent, SyncState
from nodes.models import Node

pytestmark = pytest.mark.django_db


def _banned(client, jail, ip):
    return ip in client.jail_status(jail).banned_ips


def test_the_sync_tags_rows_with_its_node_and_keeps_a_cursor_per_node(f2b, f2b_client,
                                                                        settings):
    f2b.write_failures("sshd", "198.51.100.41", 3)
    assert wait_for(lambda: _banned(f2b_client, "sshd", "198.51.100.41"))
    settings.BANGUI_NODE = "a"
    assert archive.sync(str(f2b.dbfile)).inserted >= 1
    assert set(BanEvent.objects.values_list("node", flat=True)) == {"a"}

    # The same path on another host is another fail2ban: its own cursor, its
    # own rows, even with the same jail, IP and time.
    settings.BANGUI_NODE = "b"
    again = archive.sync(str(f2b.dbfile))
    assert again.inserted >= 1
    rows = BanEvent.objects.filter(ip="198.51.100.41")
    assert sorted(rows.values_list("node", flat=True)) == ["a", "b"]
    assert set(SyncState.objects.values_list("node", flat=True)) == {"a", "b"}
    assert archive.sync(str(f2b.dbfile)).inserted == 0  # b's cursor moved


def test_manual_bans_and_unbans_are_this_nodes(f2b, f2b_client, settings):
    settings.BANGUI_NODE = "a"
    f2b_client.ban("sshd", ["203.0.113.61"])
    event = archive.record_manual("203.0.113.61", "sshd", "alice")
    assert event.node == "a"
    # Node b's row of the same IP (b's own fail2ban banned it too).
    BanEvent.objects.create(node="b", ip="203.0.113.61", jail="sshd",
                            banned_at=event.banned_at, bantime=3600)
    assert archive.record_unban("203.0.113.61", "bob") == 1  # a's only
    assert BanEvent.objects.get(node="a").unbanned_by == "bob"
    assert BanEvent.objects.get(node="b").unbanned_at is None


def _rows(node, count, jail="sshd", ago=timedelta(hours=1), country="DE"):
    now = timezone.now()
    BanEvent.objects.bulk_create([
        BanEvent(node=node, ip=f"192.0.2.{i}", ip_key=str(i), jail=jail, bantime=600,
                 banned_at=now - ago - timedelta(seconds=i), country_code=country)
        for i in range(count)])


def test_the_queries_count_every_node_or_one(settings):
    _rows("a", 3)
    _rows("b", 5, ago=timedelta(days=40))  # whole days: the rollup's part
    _rows("b", 2, jail="nginx")
    assert rollup.answers("day") and not rollup.answers("day", node="b")
    year = "365d"
    assert queries.window_counts(year, None)[None] == 10
    assert queries.window_counts(year, None, node="b")[None] == 7
    assert queries.window_counts(year, "jail", node="b") == {"sshd": 5, "nginx": 2}
    assert [c.count for c in queries.top_countries(year, node="a")] == [3]
    assert queries.ban_table(year, node="a").paginator.count == 3
    assert queries.summary("24h", node="b").total == 2


def _register(*names):
    now = timezone.now()
    for name in names:
        Node.objects.create(name=name, holder=f"{name}:1:x", heartbeat_at=now,
                            expires_at=now + timedelta(seconds=30))


def test_a_single_host_shows_no_node_column(admin_client, settings):
    _register(settings.BANGUI_NODE)
    _rows(settings.BANGUI_NODE, 1)
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert 'id="f-node"' not in html and 'class="col-node"' not in html


def test_the_dashboard_scopes_to_a_node_and_names_the_node(admin_client, settings):
    _register(settings.BANGUI_NODE, "b")
    _rows(settings.BANGUI_NODE, 1)
    BanEvent.objects.create(node="b", ip="198.51.100.99", jail="sshd", bantime=600,
                            banned_at=timezone.now() - timedelta(minutes=5))
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert 'id="f-node"' in html and '<option value="b">b</option>' in html
    assert '<td class="col-node">b</td>' in html
    # b published nothing: its row's live state is unknown, with the reason
    assert "node b has not published its live bans lately" in html

    html = admin_client.get(reverse("dashboard"), {"node": "b"}).content.decode()
    assert "198.51.100.99" in html and "192.0.2.0" not in html

    bad = admin_client.get(reverse("dashboard"), {"node": "b/../x"})
    assert bad.status_code == 200 and "Ignored node=" in bad.content.decode()


def test_the_map_and_the_ip_page_carry_the_node(admin_client, settings):
    _register(settings.BANGUI_NODE, "b")
    _rows("b", 2, country="FR")
    _rows(settings.BANGUI_NODE, 1, country="DE")
    page = admin_client.get(reverse("world_map"), {"node": "b", "window": "24h"})
    html = page.content.decode()
    assert 'id="map-node"' in html and "France" in html
    ip_page = admin_client.get(reverse("ip_detail", args=["192.0.2.0"])).content.decode()
    assert "<th scope=\"col\">Node</th>" in ip_page and "<td>b</td>" in ip_page


def test_the_audit_trail_names_and_filters_the_node(admin_client, settings):
    from accounts import audit

    _register(settings.BANGUI_NODE, "b")
    audit.record("cli:root", "f2b.ban", target="sshd 192.0.2.1", node="b")
    audit.record("cli:root", "f2b.ban", target="sshd 192.0.2.2", node=settings.BANGUI_NODE)
    html = admin_client.get(reverse("audit")).content.decode()
    assert 'id="audit-node"' in html and "<td>b</td>" in html
    only_b = admin_client.get(reverse("audit"), {"node": "b"}).content.decode()
    assert "192.0.2.1" in only_b and "192.0.2.2" not in only_b


def test_the_ban_form_offers_this_host_only_when_it_is_a_node(admin_client, settings):
    _register(settings.BANGUI_NODE, "b")
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert f"this host ({settings.BANGUI_NODE})" in html and '<option value="b">b</option>' in html
    Node.objects.filter(pk=settings.BANGUI_NODE).delete()  # a web-only host: no node here
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert "this host (" not in html and '<option value="b">b</option>' in html


def test_the_jails_page_lists_the_other_nodes_jails_and_a_web_only_host_none_of_its_own(
        admin_client, settings, f2b):
    now = timezone.now()
    _register(settings.BANGUI_NODE)
    Node.objects.create(name="b", holder="b:1:x", heartbeat_at=now,
                        expires_at=now + timedelta(seconds=30), fail2ban_up=True,
                        jails=["sshd"], jail_counts={"sshd": {"banned": 12, "failed": 3}},
                        jail_settings={"sshd": {"bantime": 600, "findtime": 300,
                                                "maxretry": 4}})
    html = admin_client.get(reverse("jail_list")).content.decode()
    assert "<h2>This host</h2>" in html and "Stopped and disabled jails" in html
    part = html[html.index('data-testid="node-jails-b"'):].split("</table>")[0]
    assert ">12<" in part and ">600<" in part and ">4<" in part
    Node.objects.filter(pk=settings.BANGUI_NODE).delete()  # a web-only host
    settings.FAIL2BAN_SOCKET = "/nonexistent/fail2ban.sock"
    html = admin_client.get(reverse("jail_list")).content.decode()
    assert 'data-testid="web-only"' in html and "Live jail state is unavailable" not in html
    assert "Stopped and disabled jails" not in html and 'data-testid="node-jails-b"' in html
