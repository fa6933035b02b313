"""Every declared schedule runs once per interval in the one real cluster,
for a few minutes, while a second cluster is refused (counted in django-q2's
task table, on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import math
import os
import signal
import time

import pytest

from bangui.tests.conftest import wait_for_text

pytestmark = pytest.mark.slow

RUN_SECONDS = 200  # a little over three one-minute intervals


def test_each_schedule_runs_once_per_interval_with_one_cluster(project, request):
    # Minutes long: run it once per database, in the suite run on that database
    # (scripts/test.sh runs the whole suite on SQLite, then on PostgreSQL).
    suite_db = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") \
        else "sqlite"
    if request.node.callspec.params["project"] != suite_db:
        pytest.skip(f"runs in the suite run on {request.node.callspec.params['project']}")
    cluster, log = project.start("qcluster", log="cluster.log")
    wait_for_text(log, "running.")
    second = project.run("qcluster", timeout=60)
    assert second.returncode == 1
    assert "holds the worker lease" in second.stderr

    time.sleep(RUN_SECONDS)
    cluster.send_signal(signal.SIGTERM)
    assert cluster.wait(timeout=60) == 0

    dump = project.run("shell", "-c", (
        "import json; from django_q.models import Schedule, Task; "
        "print(json.dumps({s.name: [s.next_run.timestamp(), [t.started.timestamp() for t in "
        "Task.objects.filter(group=s.name).order_by('started')]] "
        "for s in Schedule.objects.filter(name__startswith='bangui:')}))"))
    assert dump.returncode == 0, dump.stderr
    runs = json.loads(dump.stdout.strip().splitlines()[-1])
    minutely = {n: r for n, r in runs.items()
                if n.startswith(("bangui:archive-sync", "bangui:geo-flush"))}
    assert len(minutely) == 2, runs
    for name, (next_run, times) in minutely.items():
        # About RUN_SECONDS / 60 runs, and never two in one interval: the
        # schedule's grid (next_run - k minutes) puts each run in its own slot.
        assert RUN_SECONDS // 60 <= len(times) <= RUN_SECONDS // 60 + 2, (name, times)
        slots = [math.ceil((next_run - t) / 60) for t in times]
        assert len(set(slots)) == len(slots), (name, next_run, times)
    for name, (_, times) in runs.items():
        if name not in minutely:  # hourly and daily schedules: at most their first run
            assert len(times) <= 1, (name, times)
