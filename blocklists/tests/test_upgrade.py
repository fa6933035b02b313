"""Upgrading an install whose blocklists lived in the jails app (jails 0013)
to the blocklists app (jails 0014, blocklists 0001/0002): the tables and
their rows stay, new rows continue the ids, the content types (and the
permissions granted on them) follow, and the schedule's task path is
rewritten by the schedule writer."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_q.models import Schedule

from bangui.schedules import sync_schedules
from blocklists.models import BlocklistClaim, BlocklistSource, ImportRun

JAILS_BEFORE = ("jails", "0013_blocklist_schedule_rows")
TABLES = {"jails_blocklistsource", "jails_blocklistclaim", "jails_importrun"}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _before():
    """Every other app as it is, jails at 0013 (so blocklists unapplied)."""
    return [node for node in _latest() if node[0] not in ("jails", "blocklists")] + [
        JAILS_BEFORE]


@pytest.mark.django_db(transaction=True)
def test_rows_content_types_and_grants_survive_the_move():
    old = _migrate(_before())
    assert set(connection.introspection.table_names()) >= TABLES
    with pytest.raises(LookupError):
        old.get_model("blocklists", "BlocklistSource")
    Source = old.get_model("jails", "BlocklistSource")
    source = Source.objects.create(name="old list", url="https://example.org/old.txt",
                                   jail="sshd", target_label="web")
    old.get_model("jails", "ImportRun").objects.create(
        source=source, status="ok", node="a", newly_banned=7, runner="host:1")
    old.get_model("jails", "BlocklistClaim").objects.create(source=source, node="a")
    # What an install at 0013 has: its content types under "jails" (the
    # fresh test database made them for "blocklists"; going back relabelled
    # them), and a grant an admin made on one.
    OldType = old.get_model("contenttypes", "ContentType")
    old_type = OldType.objects.get(app_label="jails", model="blocklistsource")
    assert not OldType.objects.filter(app_label="blocklists").exists()
    change = old.get_model("auth", "Permission").objects.get(
        content_type=old_type, codename="change_blocklistsource")
    group = old.get_model("auth", "Group").objects.create(name="list keepers")
    group.permissions.add(change)

    try:
        new = _migrate(_latest())
        ContentType.objects.clear_cache()
        moved = BlocklistSource.objects.get()
        assert (moved.pk, moved.name, moved.jail, moved.target_label) == (
            source.pk, "old list", "sshd", "web")
        run = ImportRun.objects.get()
        assert (run.source_id, run.status, run.node, run.newly_banned, run.runner) == (
            source.pk, "ok", "a", 7, "host:1")
        assert BlocklistClaim.objects.get().source_id == source.pk
        # New rows take the next ids (PostgreSQL: the tables' own sequences).
        second = BlocklistSource.objects.create(name="new list", url="https://example.org/n")
        assert second.pk > source.pk
        assert ImportRun.objects.create(source=second).pk > run.pk
        # The same content type row, relabelled, with its permissions and grants.
        NewType = new.get_model("contenttypes", "ContentType")
        assert NewType.objects.get(app_label="blocklists", model="blocklistsource").pk == \
            old_type.pk
        assert not NewType.objects.filter(app_label="jails", model__in=[
            "blocklistsource", "blocklistclaim", "importrun"]).exists()
        assert ContentType.objects.get_for_model(BlocklistSource).pk == old_type.pk
        granted = new.get_model("auth", "Group").objects.get(name="list keepers")
        assert [(p.content_type.app_label, p.codename) for p in granted.permissions.all()] == [
            ("blocklists", "change_blocklistsource")]
    finally:
        _migrate(_latest())
        ContentType.objects.clear_cache()


@pytest.mark.django_db
def test_the_schedule_writer_rewrites_the_old_task_path():
    name = f"bangui:blocklist-imports@{settings.BANGUI_NODE}"
    Schedule.objects.update_or_create(name=name, defaults={
        "func": "jails.blocklists.tasks.import_due", "next_run": timezone.now()})
    report = sync_schedules()
    assert name in report.updated
    assert Schedule.objects.get(name=name).func == "blocklists.tasks.import_due"
