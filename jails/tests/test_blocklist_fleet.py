"""Blocklist sources aimed at nodes (docs/fleet.md, "Blocklists in a
fleet"): which nodes a source targets, the schedules that follows, the
form's choice, "Import now" per node, and a node that is no longer a
target skipping a queued run. The real import on a chosen node is in
test_fleet_commands.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from bangui.models import Node
from jails.blocklists import schedules, tasks
from jails.blocklists.models import BlocklistSource

pytestmark = pytest.mark.django_db


def _node(name, labels=()):
    now = timezone.now()
    return Node.objects.create(name=name, holder=f"{name}:1:x", heartbeat_at=now,
                               expires_at=now + timedelta(seconds=30), labels=list(labels))


def _source(**kw):
    return BlocklistSource.objects.create(name=kw.pop("name", "list"),
                                          url=kw.pop("url", "https://example.org/l.txt"),
                                          jail="sshd", **kw)


def _schedules():
    return sorted(Schedule.objects.filter(name__startswith="blocklist:")
                  .values_list("name", "cluster"))


def test_targets_every_node_a_label_or_chosen_nodes(settings):
    every = _source()
    assert schedules.targets(every) == [settings.BANGUI_NODE]  # none registered yet
    _node("a", ["web"])
    _node("b", ["web", "mail"])
    _node("c")
    assert schedules.targets(every) == ["a", "b", "c"]
    assert schedules.targets(_source(name="m", url="https://e.org/m", target_label="mail")) == ["b"]
    assert schedules.targets(_source(name="n", url="https://e.org/n", target_label="none")) == []
    assert schedules.targets(_source(name="x", url="https://e.org/x",
                                     target_nodes=["c", "later"])) == ["c", "later"]


def test_schedules_follow_the_targets_and_drop_pre_fleet_names():
    _node("a", ["web"])
    _node("b")
    source = _source(target_label="web")
    Schedule.objects.create(name=f"blocklist:{source.pk}", func=schedules.TASK)  # pre-fleet
    schedules.sync_source(source)
    assert _schedules() == [(f"blocklist:{source.pk}@a", "node-a")]
    source.target_label, source.target_nodes = "", ["b"]
    source.save()
    schedules.sync_source(source)
    assert _schedules() == [(f"blocklist:{source.pk}@b", "node-b")]
    schedules.remove_source(source.pk)
    assert _schedules() == []


def test_a_node_gets_its_schedules_when_it_registers_and_when_its_labels_change():
    _node("a")
    source = _source(target_label="web")
    schedules.sync_all()
    assert _schedules() == []
    b = _node("b", ["web"])  # registering (a saved Node row) re-syncs the sources
    assert _schedules() == [(f"blocklist:{source.pk}@b", "node-b")]
    b.labels = []
    b.save()
    assert _schedules() == []
    Schedule.objects.create(name=f"blocklist:{source.pk}@b", func=schedules.TASK,
                            cluster="node-b")  # a leftover
    schedules.sync_node("b")  # b's cluster starting
    assert _schedules() == []


def test_a_queued_run_on_a_node_no_longer_targeted_is_skipped(settings):
    _node("other")
    source = _source(target_nodes=["other"])
    assert tasks.import_source(source.pk).startswith("skipped: list is no longer imported on "
                                                     f"node {settings.BANGUI_NODE}")


def test_import_now_queues_one_run_per_target_node(admin_client):
    _node("a", ["web"])
    _node("b", ["web"])
    source = _source(target_label="web")
    response = admin_client.post(reverse("blocklist_import", args=[source.pk]), follow=True)
    assert "Import of list queued on a, b" in response.content.decode()
    assert sorted(OrmQ.objects.values_list("key", flat=True)) == ["node-a", "node-b"]


def test_the_form_offers_the_fleet_only_in_a_fleet_and_checks_the_choice(admin_client,
                                                                         settings):
    settings.BLOCKLIST_ALLOW_PRIVATE = True  # the URL below is never fetched
    page = admin_client.get(reverse("blocklist_new")).content.decode()
    assert "Import on" not in page  # a single host
    _node("a", ["web"])
    _node("b")
    page = admin_client.get(reverse("blocklist_new")).content.decode()
    assert "Import on" in page and "every node labelled web" in page
    data = {"name": "l", "url": "http://127.0.0.1:9/l.txt", "interval_minutes": "60",
            "jail": "sshd", "enabled": "on"}
    refused = admin_client.post(reverse("blocklist_new"), {**data, "target": "nodes"})
    assert "choose at least one node" in refused.content.decode()
    assert not BlocklistSource.objects.exists()
    bad = admin_client.post(reverse("blocklist_new"), {**data, "target": "nodes",
                                                       "target_nodes": ["nope"]})
    assert bad.status_code == 200 and not BlocklistSource.objects.exists()
    admin_client.post(reverse("blocklist_new"), {**data, "target": "nodes",
                                                 "target_nodes": ["b"]})
    saved = BlocklistSource.objects.get()
    assert (saved.target_label, saved.target_nodes) == ("", ["b"])
    assert _schedules() == [(f"blocklist:{saved.pk}@b", "node-b")]
    detail = admin_client.get(reverse("blocklist_detail", args=[saved.pk])).content.decode()
    assert "Imported on" in detail and "(now: b)" in detail
