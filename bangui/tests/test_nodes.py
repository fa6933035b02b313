"""Nodes: names, one lease per node, per-node schedules and queues, the
fleet list (``/nodes/``, ``manage.py nodes``, /metrics), and real clusters
of different nodes side by side."""

from __future__ import annotations

import io
import json
import signal
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from prometheus_client.parser import text_string_to_metric_families

from bangui.health import exposition
from bangui.schedules import SCHEDULES, sync_schedules
from bangui.tests.conftest import wait_for_text
from conftest import wait_for
from nodes import nodename
from nodes.fleet import fleet, summary
from nodes.models import Node
from nodes.worker import Lease, LeaseHeld, publish_facts


@pytest.mark.parametrize("name", ["web-1", "bastion.example.org", "a", "0" * 63, " Web-2 "])
def test_a_node_name_is_a_short_lowercase_host_name(name):
    assert nodename.clean(name) == name.strip().lower()


@pytest.mark.parametrize("name", ["", "-web", ".web", "web_1", "web 1", "web/1", "0" * 64,
                                  "web\nx", "wéb"])
def test_other_names_are_refused_with_a_message(name):
    with pytest.raises(nodename.BadNodeName, match="is not a node name"):
        nodename.clean(name)


def test_the_default_name_is_made_from_the_host_name():
    assert nodename.from_host("Web_01.Example.ORG") == "web-01.example.org"
    assert nodename.from_host("---") == "localhost"
    assert nodename.clean(nodename.from_host("x" * 99)) == "x" * 63


def test_each_node_has_its_own_queue():
    assert settings.Q_CLUSTER["cluster_name"] == nodename.queue(settings.BANGUI_NODE)
    assert nodename.queue("web-1") == "node-web-1"


@pytest.mark.django_db
def test_one_lease_per_node_and_nodes_side_by_side():
    Lease("web-1", "h:1:a", 30).acquire()
    with pytest.raises(LeaseHeld, match="holds the lease of node 'web-1': h:1:a"):
        Lease("web-1", "h:2:b", 30).acquire()
    Lease("web-2", "h:3:c", 30).acquire()  # another node: its own row
    assert dict(Node.objects.values_list("name", "holder")) == {"web-1": "h:1:a",
                                                                "web-2": "h:3:c"}


@pytest.mark.django_db
def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew():
    old = Lease("web-1", "h:1:a", 30)
    old.acquire()
    Node.objects.filter(pk="web-1").update(expires_at=timezone.now() - timedelta(seconds=1))
    new = Lease("web-1", "h:2:b", 30)
    new.acquire()
    assert not old.renew()
    assert new.renew()


@pytest.mark.django_db
def test_schedules_belong_to_their_node():
    sync_schedules(node="web-1")
    sync_schedules(node="web-2")
    for node in ("web-1", "web-2"):
        rows = Schedule.objects.filter(name__endswith=f"@{node}")
        assert {r.name for r in rows} == {t.schedule_name_for(node) for t in SCHEDULES}
        assert {r.cluster for r in rows} == {f"node-{node}", f"cmd-{node}"}
    # Pruning one node's rows leaves the other's alone.
    report = sync_schedules(declared=SCHEDULES[:1], node="web-1")
    assert len(report.deleted) == len(SCHEDULES) - 1
    assert Schedule.objects.filter(name__endswith="@web-2").count() == len(SCHEDULES)


def _node(name, *, age: float, lease: float = 30, **facts):
    now = timezone.now()
    beat = now - timedelta(seconds=age)
    return Node.objects.create(name=name, holder=f"{name}:1:x", acquired_at=beat,
                               heartbeat_at=beat, expires_at=beat + timedelta(seconds=lease),
                               **facts)


@pytest.mark.django_db
def test_a_node_is_down_once_its_lease_expires():
    _node("web-1", age=2, fail2ban_up=True, fail2ban_version="1.0.2", jails=["sshd"])
    _node("web-2", age=300, fail2ban_up=True, fail2ban_version="1.0.2", jails=["sshd"])
    nodes = {n.name: n for n in fleet()}
    assert nodes["web-1"].is_up() and nodes["web-1"].fail2ban_answers()
    down = nodes["web-2"]
    assert not down.is_up() and not down.fail2ban_answers()  # what it said last is history
    assert down.fail2ban_up and down.banned() is None  # the row keeps it, as history
    assert [n.name for n in Node.objects.up()] == ["web-1"]
    assert (summary().up, summary().down) == (1, 1)


@pytest.mark.django_db
def test_the_nodes_page_lists_every_node(admin_client):
    _node("web-1", age=2, fail2ban_up=True, fail2ban_version="1.0.2", jails=["sshd", "nginx"],
          labels=["web"])
    _node("web-2", age=300)
    response = admin_client.get(reverse("nodes"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 up, 1 down" in html
    assert 'data-node="web-1"' in html and "1.0.2" in html and ">web<" in html
    assert "stale since" in html


@pytest.mark.django_db
def test_the_nodes_page_without_nodes_says_how_to_get_one(admin_client):
    assert "No node has registered yet" in admin_client.get(reverse("nodes")).content.decode()


@pytest.mark.django_db
def test_the_command_lists_nodes_with_their_state():
    _node("web-1", age=2, fail2ban_up=True, fail2ban_version="1.0.2", jails=["sshd"])
    _node("web-2", age=300)
    out = io.StringIO()
    call_command("nodes", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["NODE", "STATE", "HEARTBEAT"]
    name, state, age, unit = lines[1].split()[:4]
    assert (name, state, unit) == ("web-1", "up", "s") and 2 <= int(age) < 60
    assert lines[2].startswith("web-2") and "down (stale since" in lines[2]
    out = io.StringIO()
    call_command("nodes", "--json", stdout=out)
    assert [n["up"] for n in json.loads(out.getvalue())] == [True, False]


@pytest.mark.django_db
def test_metrics_carry_every_node():
    _node("web-1", age=2, fail2ban_up=True,
          jail_counts={"sshd": {"banned": 7, "failed": 2}})
    _node("web-2", age=300, fail2ban_up=True, jail_counts={"sshd": {"banned": 9}})
    families = {f.name: f for f in text_string_to_metric_families(exposition().decode())}
    up = {s.labels["node"]: s.value for s in families["bangui_node_up"].samples}
    assert up == {"web-1": 1.0, "web-2": 0.0}
    banned = {(s.labels["node"], s.labels["jail"]): s.value
              for s in families["bangui_node_jail_banned"].samples}
    assert banned == {("web-1", "sshd"): 7.0}  # a down node's last word is not current


@pytest.mark.django_db
def test_the_worker_publishes_its_fail2ban(f2b):
    Lease("web-1", "h:1:a", 30).acquire()
    publish_facts("web-1")
    row = Node.objects.get(pk="web-1")
    assert row.fail2ban_up and row.fail2ban_version and row.fail2ban_version in f2b.version()
    assert set(row.jails) == {j.name for j in f2b.jails if j.enabled}
    f2b.fail2ban_client("set", "sshd", "banip", "192.0.2.33")
    publish_facts("web-1")
    counts = Node.objects.get(pk="web-1").jail_counts
    assert counts["sshd"]["banned"] == 1 and counts["sshd"]["total_banned"] >= 1
    f2b.stop()
    try:
        publish_facts("web-1")
        assert not Node.objects.get(pk="web-1").fail2ban_up
    finally:
        f2b.start()


def test_clusters_of_different_nodes_run_side_by_side(project, f2b_sandbox):
    """Real ``qcluster`` processes on one database: nodes a and b run at
    once; a second cluster for a is refused; a's row shows its fail2ban."""
    a, a_log = project.start("qcluster", log="a.log",
                             env={"BANGUI_NODE": "a",
                                  "BANGUI_FAIL2BAN_SOCKET": str(f2b_sandbox.socket)})
    b, b_log = project.start("qcluster", log="b.log", env={"BANGUI_NODE": "b"})
    wait_for_text(a_log, "running.")
    wait_for_text(b_log, "running.")
    again = project.run("qcluster", env={"BANGUI_NODE": "a"}, timeout=60)
    assert again.returncode == 1
    assert "holds the lease of node 'a'" in again.stderr

    listed = project.run("nodes", "--json")
    nodes = {n["name"]: n for n in json.loads(listed.stdout)}
    assert nodes["a"]["up"] and nodes["b"]["up"]
    assert nodes["a"]["fail2ban_up"] and "sshd" in nodes["a"]["jails"]
    assert not nodes["b"]["fail2ban_up"]  # b's fail2ban (the default socket) is not here

    for proc in (a, b):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert wait_for(lambda: not any(n["up"] for n in json.loads(
        project.run("nodes", "--json").stdout)), timeout=10)


@pytest.mark.django_db
def test_the_status_bar_summarises_the_fleet_only_in_a_fleet(admin_client):
    _node(settings.BANGUI_NODE, age=2)
    assert "fleet-summary" not in admin_client.get(reverse("status_bar")).content.decode()
    _node("web-2", age=300)
    _node("web-3", age=1)
    html = admin_client.get(reverse("status_bar")).content.decode()
    assert "2 nodes up</a>" in html and "<strong>1 down</strong>" in html


@pytest.mark.django_db
def test_a_web_only_host_shows_the_fleet_not_its_missing_fail2ban(admin_client, settings):
    """The web tier on a host of its own (not a node): no red "fail2ban
    unreachable" on every page; the fleet, and the bans its nodes hold."""
    settings.FAIL2BAN_SOCKET = "/nonexistent/fail2ban.sock"
    _node("web-2", age=1, fail2ban_up=True, jail_counts={"sshd": {"banned": 40}})
    _node("web-3", age=1, fail2ban_up=True, jail_counts={"sshd": {"banned": 2}})
    html = admin_client.get(reverse("status_bar")).content.decode()
    assert "fail2ban unreachable" not in html and "is-ok" in html
    assert "2 nodes up</a>" in html and 'data-testid="fleet-banned">42<' in html
    page = admin_client.get(reverse("dashboard")).content.decode()
    assert "42</span><span class=\"figure-label\">banned now (on all nodes)" in page
    page = admin_client.get(reverse("dashboard"), {"node": "web-3"}).content.decode()
    assert "2</span><span class=\"figure-label\">banned now (on web-3)" in page
    _node(settings.BANGUI_NODE, age=1)  # this host becomes a node: its own fail2ban again
    html = admin_client.get(reverse("status_bar")).content.decode()
    assert "fail2ban unreachable" in html and 'data-testid="fleet-summary"' in html


@pytest.mark.django_db
def test_fleet_wide_schedules_run_on_one_node(settings):
    from bangui.schedules import FLEET_WIDE, SCHEDULES, run_fleet_wide

    purge = next(t for t in SCHEDULES if t.name == "archive-purge")
    sync_schedules(node="web-1")
    row = Schedule.objects.get(name=purge.schedule_name_for("web-1"))
    assert row.func == FLEET_WIDE and "jails.tasks.purge_archive" in row.kwargs
    assert Schedule.objects.get(name="bangui:archive-sync@web-1").func == "jails.tasks.sync_archive"

    _node("web-2", age=1)
    _node("web-3", age=1)
    settings.BANGUI_NODE = "web-3"
    assert run_fleet_wide("jails.tasks.purge_archive") == (
        "skipped: node web-2 runs the fleet-wide tasks")
    settings.BANGUI_NODE = "web-2"
    assert run_fleet_wide("jails.tasks.purge_archive") == "purged 0 archived bans"
    Node.objects.filter(pk="web-2").update(expires_at=timezone.now())  # web-2 died
    settings.BANGUI_NODE = "web-3"
    assert run_fleet_wide("jails.tasks.purge_archive") == "purged 0 archived bans"
