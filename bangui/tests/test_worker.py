"""One task cluster, one worker: real ``manage.py qcluster`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from bangui.tests.conftest import LEASE_SECONDS, MANAGE, ROOT, wait_for_text

RUNNING = "acquired by"


def _gone(pgid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _exit_code(proc: subprocess.Popen, log) -> int:
    try:
        return proc.wait(timeout=40)  # a lane gets qcluster.STOP_SECONDS (20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"qcluster did not stop:\n{log.read_text()[-4000:]}") from None


def test_a_stop_asked_while_the_lanes_start_is_a_clean_stop(project):
    """SIGTERM to the main process while the lanes are still being
    started: django-q2's own handler joined the sentinel from inside the
    signal handler (a deadlock when it lands while the start event's lock
    is held); ours only notes the stop, acted on once both lanes run."""
    for _ in range(3):
        proc, log = project.start("qcluster", log="starting.log")
        wait_for_text(log, "starting.")  # the first lane's sentinel is forked
        proc.send_signal(signal.SIGTERM)
        assert _exit_code(proc, log) == 0
        assert "worker lease released" in log.read_text()
        assert _gone(proc.pid)


def test_it_refuses_a_cluster_with_two_workers(tmp_path):
    (tmp_path / "two_workers.py").write_text(
        "from bangui.settings import *  # noqa\n"
        "Q_CLUSTER = {**Q_CLUSTER, 'workers': 2}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANGUI_", "DATABASE_URL"))}
    env.update(BANGUI_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="two_workers",
               PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    for extra in ([], ["--skip-checks"]):
        done = subprocess.run([*MANAGE, "qcluster", *extra], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert "bangui.E001" in done.stderr
        assert "Q_CLUSTER['workers'] is 2" in done.stderr
        assert "GeoCache (its memory" in done.stderr
        assert "Set Q_CLUSTER['workers'] = 1" in done.stderr


def test_it_refuses_a_second_cluster_and_takes_over_after_kill_9(project):
    first, first_log = project.start("qcluster", log="first.log")
    wait_for_text(first_log, "running.")

    second = project.run("qcluster", timeout=60)
    assert second.returncode == 1
    assert "Another BanGUI task cluster holds the lease of node" in second.stderr
    assert f":{first.pid}:" in second.stderr  # names the holder
    assert "expires 20" in second.stderr

    first.send_signal(signal.SIGKILL)  # the main process only, not its group
    first.wait(timeout=10)
    # Its sentinel and worker die with it (they would otherwise keep
    # running the schedules without a lease).
    assert _gone(first.pid)

    time.sleep(LEASE_SECONDS)
    third, third_log = project.start("qcluster", log="third.log")
    wait_for_text(third_log, "running.")
    assert RUNNING in third_log.read_text()

    third.send_signal(signal.SIGTERM)
    assert _exit_code(third, third_log) == 0
    assert "worker lease released" in third_log.read_text()

    fourth = project.run("shell", "-c",
                         "from nodes.models import Node; "
                         "print(repr(Node.objects.get().holder))")
    assert fourth.stdout.strip().splitlines()[-1] == "''", fourth.stderr



def test_a_worker_started_while_the_database_is_locked_waits_and_runs(tmp_path):
    """SQLite: another writer holds the write lock past the busy timeout
    while the worker starts. It used to die of "database is locked" in its
    start (every queued import then waited behind a dead worker); now it
    says it retries, and runs once the lock is free."""
    import sqlite3

    from bangui.tests.conftest import Project

    project = Project(tmp_path, None)
    project.env["BANGUI_SQLITE_BUSY_SECONDS"] = "1"
    assert project.run("migrate", "--noinput", "-v0", timeout=180).returncode == 0
    holder = sqlite3.connect(tmp_path / "bangui.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long writer holds it
        proc, log = project.start("qcluster", log="locked.log")
        wait_for_text(log, "the database is busy or unreachable (database is locked); "
                           "retrying in")
        assert proc.poll() is None  # still there, waiting
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for_text(log, "running.", timeout=60)
    text = log.read_text()
    assert RUNNING in text
    assert "Traceback" not in text
    proc.send_signal(signal.SIGTERM)
    assert _exit_code(proc, log) == 0
    project.close()


def test_a_worker_past_its_memory_bound_is_replaced_after_the_task(project):
    """BANGUI_WORKER_MAX_RSS_MB (django-q2's max_rss): Python keeps what a
    100,000-line import freed, so the worker stayed at its high-water mark
    for good (the soak's worker: 176 -> 382 MiB). Past the bound, the task
    finishes and a fresh worker takes over."""
    if project.env.get("DATABASE_URL"):
        pytest.skip("django-q2's recycling; the database plays no part")
    proc, log = project.start("qcluster", log="hog.log", env={"BANGUI_WORKER_MAX_RSS_MB": "64"})
    wait_for_text(log, RUNNING, timeout=60)
    queued = project.run("shell", "-c", (
        "from django.conf import settings; from django_q.tasks import async_task; "
        "from nodes import nodename; "
        "async_task('bangui.tests.memhog.hog', 120, task_name='hog', "
        "cluster=nodename.queue(settings.BANGUI_NODE))"), env={"BANGUI_WORKER_MAX_RSS_MB": "64"})
    assert queued.returncode == 0, queued.stderr
    text = wait_for_text(log, "recycled worker", timeout=60)
    assert "Processed 'bangui.tests.memhog.hog' (hog)" in text
    proc.send_signal(signal.SIGTERM)
    assert _exit_code(proc, log) == 0
