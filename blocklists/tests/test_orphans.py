"""Import runs whose process died are closed as failed, with why, when the
next worker starts or the next run of the source is due."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from blocklists import importer
from blocklists.models import BlocklistClaim, BlocklistSource, ImportRun
from nodes.worker import worker_started

pytestmark = pytest.mark.django_db


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def source():
    return BlocklistSource.objects.create(name="list", url="http://127.0.0.1:9/list.txt",
                                          jail="sshd")


def _orphan(source, runner: str, started_ago: timedelta = timedelta(seconds=5)) -> ImportRun:
    from django.conf import settings

    now = timezone.now()
    BlocklistClaim.objects.update_or_create(source=source, node=settings.BANGUI_NODE,
                                            defaults={"running_since": now - started_ago})
    return ImportRun.objects.create(source=source, runner=runner, started_at=now - started_ago,
                                    node=settings.BANGUI_NODE)


def test_a_new_worker_closes_runs_whose_process_is_gone(source):
    dead = _orphan(source, f"{socket.gethostname()}:{_dead_pid()}")
    worker_started.send(sender=None)
    dead.refresh_from_db()
    assert dead.status == ImportRun.Status.FAILED
    assert "stopped before it finished" in dead.error and dead.finished_at is not None
    assert BlocklistClaim.objects.get(source=source).running_since is None


def test_a_run_of_a_live_process_stays_running(source):
    live = _orphan(source, f"{socket.gethostname()}:{os.getpid()}")
    assert importer.close_orphaned_runs() == 0
    live.refresh_from_db()
    assert live.status == ImportRun.Status.RUNNING


def test_a_run_on_another_host_is_closed_only_when_stale(source):
    fresh = _orphan(source, "elsewhere:123")
    assert importer.close_orphaned_runs() == 0
    ImportRun.objects.filter(pk=fresh.pk).update(
        started_at=timezone.now() - importer.STALE_CLAIM - timedelta(seconds=1))
    assert importer.close_orphaned_runs() == 1


def test_the_next_run_closes_the_orphan_and_is_not_refused(source, settings):
    settings.BLOCKLIST_ALLOW_PRIVATE = True
    dead = _orphan(source, f"{socket.gethostname()}:{_dead_pid()}")
    run = importer.run_import(source)  # the download fails (nothing on port 9): a new run
    assert run.pk != dead.pk and run.status == ImportRun.Status.FAILED
    dead.refresh_from_db()
    assert dead.status == ImportRun.Status.FAILED
    assert "stopped before it finished" in dead.error
