"""Upgrading an install whose Node model lived in the bangui app (bangui
0005) to the nodes app (bangui 0006, nodes 0001/0002): the table and its
rows stay, the content type (and the permissions granted on it) follows,
and ``manage.py qcluster`` is still BanGUI's, not django-q2's."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import get_commands
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from nodes.models import Node

BANGUI_BEFORE = ("bangui", "0005_drop_prefleet_schedules")


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _before():
    """Every other app as it is, bangui at 0005 (so nodes unapplied)."""
    return [node for node in _latest() if node[0] not in ("bangui", "nodes")] + [
        BANGUI_BEFORE]


@pytest.mark.django_db(transaction=True)
def test_the_node_rows_content_type_and_grants_survive_the_move():
    old = _migrate(_before())
    assert "bangui_node" in connection.introspection.table_names()
    with pytest.raises(LookupError):
        old.get_model("nodes", "Node")
    beat = timezone.now()
    old.get_model("bangui", "Node").objects.create(
        name="web-1", labels=["web"], holder="host:1:ab", heartbeat_at=beat,
        expires_at=beat + timezone.timedelta(seconds=30), fail2ban_up=True,
        fail2ban_version="1.1.0", jails=["sshd"], jail_counts={"sshd": {"banned": 3}},
        filters=["sshd"])
    # What an install at bangui 0005 has: the content type under "bangui"
    # (the fresh test database made it for "nodes"; going back relabelled
    # it), and a grant an admin made on it.
    OldType = old.get_model("contenttypes", "ContentType")
    old_type = OldType.objects.get(app_label="bangui", model="node")
    assert not OldType.objects.filter(app_label="nodes").exists()
    change = old.get_model("auth", "Permission").objects.get(
        content_type=old_type, codename="change_node")
    group = old.get_model("auth", "Group").objects.create(name="node keepers")
    group.permissions.add(change)

    try:
        new = _migrate(_latest())
        ContentType.objects.clear_cache()
        moved = Node.objects.get()
        assert (moved.name, moved.labels, moved.holder, moved.jails, moved.filters) == (
            "web-1", ["web"], "host:1:ab", ["sshd"], ["sshd"])
        assert moved.is_up() and moved.banned() == 3
        assert list(Node.objects.up()) == [moved]
        NewType = new.get_model("contenttypes", "ContentType")
        assert NewType.objects.get(app_label="nodes", model="node").pk == old_type.pk
        assert not NewType.objects.filter(app_label="bangui", model="node").exists()
        assert ContentType.objects.get_for_model(Node).pk == old_type.pk
        granted = new.get_model("auth", "Group").objects.get(name="node keepers")
        assert [(p.content_type.app_label, p.codename) for p in granted.permissions.all()] == [
            ("nodes", "change_node")]
    finally:
        _migrate(_latest())
        ContentType.objects.clear_cache()


def test_qcluster_is_ours():
    """Django takes a command from the first app in INSTALLED_APPS that has
    it: nodes comes before django_q, so its qcluster (the lease) wins."""
    assert get_commands()["qcluster"] == "nodes"
    assert get_commands()["nodes"] == "nodes"
    assert get_commands()["node_role"] == "nodes"


def test_a_tick_an_older_install_queued_still_runs(monkeypatch):
    """An older install queued its tick as bangui.worker.run_tick."""
    from django.utils.module_loading import import_string

    ran = []
    monkeypatch.setattr("nodes.worker.run_tick", lambda hooks=True: ran.append(hooks))
    import_string("bangui.worker.run_tick")(False)
    assert ran == [False]
