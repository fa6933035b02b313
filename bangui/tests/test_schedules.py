"""The schedule list in bangui/schedules.py, synced into django-q2."""

from __future__ import annotations

import ast
import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django_q.models import Schedule

from bangui import schedules
from bangui.schedules import SCHEDULES, Task, sync_schedules

pytestmark = pytest.mark.django_db
NODE = settings.BANGUI_NODE


def _rows():
    return sorted(Schedule.objects.filter(name__startswith="bangui:").values_list(
        "id", "name", "func", "schedule_type", "minutes", "kwargs", "repeats"))


def test_migrate_already_created_the_declared_schedules():
    names = {row[1] for row in _rows()}
    assert names == {t.schedule_name for t in SCHEDULES}
    sync = Schedule.objects.get(name=f"bangui:archive-sync@{NODE}")
    assert (sync.func, sync.schedule_type, sync.minutes) == ("jails.tasks.sync_archive", "I", 1)
    # Only this node runs it, on its command lane (beside the tick, never
    # behind a download on its main lane).
    assert sync.cluster == f"cmd-{NODE}"
    assert Schedule.objects.get(name=f"bangui:geo-flush@{NODE}").cluster == f"node-{NODE}"
    assert Schedule.objects.get(name=f"bangui:archive-purge@{NODE}").schedule_type == "D"


def test_it_is_idempotent():
    first = sync_schedules()
    rows = _rows()
    second = sync_schedules()
    assert _rows() == rows
    assert (second.created, second.updated, second.deleted) == ([], [], [])
    assert sorted(second.unchanged) == sorted(first.created + first.updated + first.unchanged)


def test_it_updates_changed_and_removes_stale_bangui_schedules_only():
    Schedule.objects.filter(name=f"bangui:archive-sync@{NODE}").update(minutes=99)
    Schedule.objects.create(name=f"bangui:retired-task@{NODE}", func="jails.tasks.gone")
    # Another node's row stays (pre-fleet rows without a node: migration
    # bangui 0005, not every sync).
    Schedule.objects.create(name="bangui:archive-sync@other", func="jails.tasks.sync_archive")
    Schedule.objects.create(name="admin's own", func="jails.tasks.sync_archive")
    Schedule.objects.create(name="blocklist:7", func="jails.blocklists.tasks.import_source")

    report = sync_schedules()

    assert report.updated == [f"bangui:archive-sync@{NODE}"]
    assert sorted(report.deleted) == [f"bangui:retired-task@{NODE}"]
    assert Schedule.objects.filter(name="bangui:archive-sync@other").exists()  # its node's
    assert Schedule.objects.get(name=f"bangui:archive-sync@{NODE}").minutes == 1
    assert Schedule.objects.filter(name__in=["admin's own", "blocklist:7"]).count() == 2


def test_declared_kwargs_reach_django_q_in_a_form_it_parses():
    extra = (*SCHEDULES, Task("demo", "jails.tasks.purge_archive", schedule_type="D",
                              kwargs={"retention_days": 30}))
    sync_schedules(declared=extra)
    assert ast.literal_eval(Schedule.objects.get(name=f"bangui:demo@{NODE}").kwargs) == {
        "retention_days": 30}


def test_the_interval_rounds_up_to_whole_minutes():
    assert schedules._every_minutes(60) == 1
    assert schedules._every_minutes(61) == 2
    assert schedules._every_minutes(300) == 5


def test_the_command_reports_what_changed():
    Schedule.objects.filter(name=f"bangui:archive-purge@{NODE}").delete()
    out = io.StringIO()
    call_command("sync_schedules", stdout=out)
    assert "created: bangui:archive-purge" in out.getvalue()
    assert "1 created, 0 updated, 0 deleted" in out.getvalue()
