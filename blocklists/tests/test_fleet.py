"""Blocklist sources aimed at nodes (docs/fleet.md, "Blocklists in a
fleet"): which nodes a source targets, which sources are due on a node
(decided from the data: no schedule row per source), the form's choice,
"Import now" per node, and a node that is no longer a target skipping a
queued run. The real import on a chosen node is in
test_fleet_commands.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from blocklists import schedules, tasks
from blocklists.models import BlocklistSource, ImportRun
from nodes.models import Node

pytestmark = pytest.mark.django_db


def _node(name, labels=()):
    now = timezone.now()
    return Node.objects.create(name=name, holder=f"{name}:1:x", heartbeat_at=now,
                               expires_at=now + timedelta(seconds=30), labels=list(labels))


def _source(**kw):
    return BlocklistSource.objects.create(name=kw.pop("name", "list"),
                                          url=kw.pop("url", "https://example.org/l.txt"),
                                          jail="sshd", **kw)


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


def test_a_node_imports_the_sources_aimed_at_it_once_per_interval():
    _node("a", ["web"])
    _node("b")
    web = _source(target_label="web", interval_minutes=60)
    every = _source(name="every", url="https://example.org/e.txt", interval_minutes=1440)
    assert schedules.due("a") == [web, every] and schedules.due("b") == [every]
    now = timezone.now()
    ImportRun.objects.create(source=web, node="a", started_at=now - timedelta(minutes=59))
    ImportRun.objects.create(source=every, node="a", status="failed",
                             started_at=now - timedelta(hours=2))
    assert schedules.due("a", now) == []  # a failed run waits its interval too
    assert schedules.due("a", now + timedelta(minutes=1)) == [web]
    assert schedules.due("b", now) == [every]  # b's own log: it never ran there
    # Re-aimed, registered, relabelled: the next look sees it (no rows to rewrite).
    web.target_label, web.target_nodes = "", ["b"]
    web.save()
    assert schedules.due("b", now) == [web, every] and schedules.due("a", now) == []
    Node.objects.filter(pk="b").update(labels=["web"])
    web.target_label, web.target_nodes = "web", []
    web.save()
    assert web in schedules.due("b", now)
    web.enabled = False
    web.save()
    assert web not in schedules.due("b", now)
    assert not Schedule.objects.filter(name__startswith="blocklist:").exists()


def test_the_minute_task_imports_what_is_due_and_skips_the_rest(settings, monkeypatch):
    ran = []
    monkeypatch.setattr(tasks, "import_source", lambda pk: ran.append(pk) or "ok: 0 new bans")
    assert tasks.import_due() == "nothing due"
    source = _source()
    assert tasks.import_due() == "list: ok: 0 new bans" and ran == [source.pk]


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
    assert schedules.due("b") == [saved] and schedules.due("a") == []
    detail = admin_client.get(reverse("blocklist_detail", args=[saved.pk])).content.decode()
    assert "Imported on" in detail and "(now: b)" in detail
