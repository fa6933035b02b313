"""Every declared schedule runs once per interval in the one real cluster,
while a second cluster is refused (counted in django-q2's task table, on
SQLite and PostgreSQL).

Schedules are due at most once a minute, and django-q2's sentinel looks at
them only every ~30 s (a fixed count of guard cycles that no setting
shortens), so waiting for real intervals takes minutes. The test moves the
schedules' clock instead: each tick sets ``next_run`` back as if intervals
had passed, then has the running cluster run django-q2's own scheduler on each of the
node's two lanes (queued as a task, its worker takes it within a second). A schedule runs
exactly once in a tick that made it due, however many intervals it missed,
never in a tick that did not, and its next run is the first slot of its
grid after the tick: once per interval."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest

from bangui.schedules import SCHEDULES
from bangui.tests.conftest import Project, wait_for_text

pytestmark = pytest.mark.slow

STEP = {"I": 60, "H": 3600, "D": 86400}  # seconds per interval, by schedule_type

# For each bangui schedule: prints its type, step in seconds, next_run as the
# previous tick left it and next_run as this tick moves it (to now, or back
# by BACK[type] steps); then queues django-q2's scheduler as a task.
TICK = """
import json
from datetime import timedelta
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

back = %(back)r
state = {}
for s in Schedule.objects.filter(name__startswith="bangui:"):
    step = s.minutes * 60 if s.schedule_type == "I" else %(steps)r[s.schedule_type]
    left = s.next_run.timestamp()
    if back == "now":
        s.next_run = timezone.now()
    elif back.get(s.schedule_type):
        s.next_run -= timedelta(seconds=back[s.schedule_type] * step)
    s.save(update_fields=["next_run"])
    state[s.name] = [s.schedule_type, step, left, s.next_run.timestamp()]
# Each lane's scheduler runs the schedules of its own queue (qcluster.py).
from django.conf import settings
async_task("django_q.scheduler.scheduler", group=%(group)r)
async_task("django_q.scheduler.scheduler", group=%(group)r,
           cluster="cmd-" + settings.BANGUI_NODE)
print(json.dumps(state))
"""


def _query(project: Project, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the installation's database directly (no Django start-up);
    ``%s`` placeholders."""
    url = project.env.get("DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            return con.execute(sql, params).fetchall()
    con = sqlite3.connect(project.data_dir / "bangui.sqlite3", timeout=20)
    try:
        return con.execute(sql.replace("%s", "?"), params).fetchall()
    finally:
        con.close()


def _runs(project: Project) -> dict[str, int]:
    """Tasks run per bangui schedule (django-q2 saves successes and failures)."""
    return dict(_query(project, 'SELECT "group", COUNT(*) FROM django_q_task '
                                'WHERE "group" LIKE %s GROUP BY "group"', ("bangui:%",)))


def _tick(project: Project, n: int, back) -> tuple[dict, float]:
    """Move the schedules, run the scheduler once in the cluster and wait
    until every task it queued was run. Returns what TICK printed and a
    time before the scheduler ran."""
    group = f"test:tick-{n}"
    done = project.run("shell", "-c", TICK % {"steps": STEP, "back": back, "group": group})
    assert done.returncode == 0, done.stderr
    ticked_at = time.time()
    state = json.loads(done.stdout.strip().splitlines()[-1])
    # Done when the scheduler task is saved and every task it queued was run
    # and acknowledged (an acknowledged task leaves django_q_ormq).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ran = _query(project, 'SELECT COUNT(*) FROM django_q_task WHERE "group" = %s', (group,))
        # (the node's tick comes and goes on the command lane: a moment
        # with nothing queued is enough)
        if ran[0][0] == 2 and not _query(project, "SELECT COUNT(*) FROM django_q_ormq")[0][0]:
            return state, ticked_at
        time.sleep(0.1)
    raise AssertionError(f"tick {n} did not finish")


def _check_slots(state: dict, ticked_at: float, due: set[str], left: dict) -> None:
    """After a tick, the schedules in ``due`` wait for the first slot of
    their grid after the tick (the missed ones are not run later); the
    others were left as the tick moved them. ``left``: the next tick's
    state, whose third field is next_run as this tick left it."""
    for name, (_kind, step, _before, moved) in state.items():
        next_run = left[name][2]
        if name not in due:
            assert next_run == moved, (name, state[name], left[name])
            continue
        slots = (next_run - moved) / step
        assert slots >= 1 and abs(slots - round(slots)) < 1e-3, (name, moved, next_run)
        assert ticked_at < next_run <= time.time() + step, (name, ticked_at, next_run)


def test_each_schedule_runs_once_per_interval_with_one_cluster(project, request):
    # Run it once per database, in the suite run on that database
    # (scripts/test.sh runs the whole suite on SQLite, then on PostgreSQL).
    suite_db = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") \
        else "sqlite"
    if request.node.callspec.params["project"] != suite_db:
        pytest.skip(f"runs in the suite run on {request.node.callspec.params['project']}")
    cluster, log = project.start("qcluster", log="cluster.log")
    wait_for_text(log, "running.")
    second = project.run("qcluster", timeout=60)
    assert second.returncode == 1
    assert "holds the lease of node" in second.stderr

    names = {t.schedule_name for t in SCHEDULES}
    minutely = {t.schedule_name for t in SCHEDULES if t.schedule_type == "I"}
    assert minutely == {t.schedule_name for t in SCHEDULES
                        if t.name in ("archive-sync", "geo-flush", "blocklist-imports", "notify")}
    # (how the tick moves next_run, the schedules that run in it). The ticks
    # take seconds: no real interval passes between them.
    ticks = [
        ("now", names),  # every schedule is due (and its grid starts here)
        ({}, set()),  # its interval has not passed: nothing runs again
        ({"I": 3}, minutely),  # three minutes missed: one run, not three
        ({"I": 1, "H": 1, "D": 1}, names),  # one interval of each passed
        ({}, set()),
    ]
    runs = dict.fromkeys(names, 0)
    previous = None
    for n, (back, due) in enumerate(ticks, start=1):
        state, ticked_at = _tick(project, n, back)
        assert set(state) == names
        if previous:
            _check_slots(*previous, left=state)
        for name in due:
            runs[name] += 1
        assert _runs(project) == {k: v for k, v in runs.items() if v}, (n, log.read_text())
        previous = (state, ticked_at, due)
    assert runs == {name: 3 if name in minutely else 2 for name in names}

    # Still the one cluster: a second one is refused, the first stops cleanly.
    second = project.run("qcluster", timeout=60)
    assert second.returncode == 1 and "holds the lease of node" in second.stderr
    cluster.send_signal(signal.SIGTERM)
    assert cluster.wait(timeout=60) == 0
