"""Upgrading an archive to the fleet schema (jails 0008/0009): existing rows
get this install's node, the daily rollup stays exact and its triggers
work afterwards (on SQLite the migration rebuilds the table, which drops
them; it installs them again)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from jails.archive import rollup

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("jails", "0007_banevent_ip_key")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_old_rows_get_the_local_node_and_the_rollup_keeps_counting(settings):
    old = _migrate(BEFORE)
    # An install at 0007 has its triggers (going back here rebuilt the table
    # on SQLite, which dropped them).
    rollup.install_triggers()
    OldEvent = old.get_model("jails", "BanEvent")
    now = timezone.now()
    OldEvent.objects.bulk_create([
        OldEvent(ip=f"192.0.2.{i}", jail="sshd", bantime=600, ban_count=1, failures=0,
                 banned_at=now - timedelta(days=2, seconds=i), origin="detected")
        for i in range(5)])
    latest = _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    Event = latest.get_model("jails", "BanEvent")
    assert set(Event.objects.values_list("node", flat=True)) == {settings.BANGUI_NODE}
    assert rollup.triggers_present()
    day = (now - timedelta(days=2)).date()
    BanDay = latest.get_model("jails", "BanDay")

    def rolled():
        return sum(BanDay.objects.filter(kind="jail", key="sshd", day=day)
                   .values_list("bans", flat=True))

    assert rolled() == 5
    Event.objects.create(node="b", ip="192.0.2.99", jail="sshd", bantime=600, ban_count=1,
                         failures=0, banned_at=now - timedelta(days=2), origin="detected")
    assert rolled() == 6  # the triggers count new rows again
    Event.objects.all().delete()
