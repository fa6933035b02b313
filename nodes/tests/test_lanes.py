"""A node's task cluster in few processes (issue #29: its PSS): the main
process pulls both lanes' tasks and saves their results itself; each lane is
one worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bangui.tests.conftest import Project, wait_for_text
from nodes import worker as node_worker

NAMES = ["bangui qcluster", "cmd worker", "node worker"]


def _tree(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += [child for child, parent in parents.items() if parent == current]
    return tree


def _names(pid: int) -> list[str]:
    names = []
    for each in _tree(pid):
        with contextlib.suppress(OSError):  # gone since the tree was read
            names.append(Path(f"/proc/{each}/comm").read_text().strip())
    return sorted(names)


def _pid_named(pid: int, name: str) -> int:
    for each in _tree(pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{each}/comm").read_text().strip() == name:
                return each
    raise LookupError(name)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl")
def test_a_node_is_three_named_processes_and_both_lanes_run_and_save_tasks(tmp_path):
    project = Project(tmp_path, None)
    try:
        assert project.run("migrate", "--noinput", "-v0", timeout=180).returncode == 0
        proc, log = project.start("qcluster", log="lanes.log")
        deadline = time.monotonic() + 60
        while log.read_text().count("running.") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        # The main process and a worker per lane (django-q2 alone: a
        # sentinel, a pusher, a monitor and a worker a lane).
        deadline = time.monotonic() + 20
        while _names(proc.pid) != NAMES and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _names(proc.pid) == NAMES, log.read_text()

        queued = project.run("shell", "-c", (
            "from django.conf import settings; from django_q.tasks import async_task; "
            "from nodes import nodename; node = settings.BANGUI_NODE; "
            "async_task('math.floor', 2.5, task_name='main-lane', "
            "cluster=nodename.queue(node)); "
            "async_task('math.sqrt', -1, task_name='cmd-lane-fails', "
            "cluster=nodename.command_queue(node))"))
        assert queued.returncode == 0, queued.stderr
        text = wait_for_text(log, "Processed 'math.floor' (main-lane)", timeout=30)
        text = wait_for_text(log, "Failed 'math.sqrt' (cmd-lane-fails)", timeout=30)
        assert "Traceback" not in text.split("Failed 'math.sqrt'")[0]
        # The heartbeat's tick, on the command lane, ran and was saved too;
        # both results stored with their lane's queue, the main lane's task
        # acknowledged (gone from its queue).
        wait_for_text(log, "Processed 'nodes.worker.run_tick' (node tick)", timeout=30)

        stored = project.run("shell", "-c", (
            "from django.conf import settings; from django_q.models import OrmQ, Task; "
            "from nodes import nodename; "
            "done = {t.name: (t.success, t.result, t.cluster) for t in "
            "Task.objects.filter(name__in=['main-lane', 'cmd-lane-fails'])}; "
            "print(done['main-lane'][:2], done['main-lane'][2].split('-')[0], "
            "done['cmd-lane-fails'][0], done['cmd-lane-fails'][2].split('-')[0], "
            "OrmQ.objects.filter(key=nodename.queue(settings.BANGUI_NODE)).count())"))
        assert stored.returncode == 0, stored.stderr
        assert stored.stdout.strip().splitlines()[-1].split() == [
            "(True,", "2)", "node", "False", "cmd", "0"]

        # A main-lane task that runs until told (a long import) delays no
        # command: the command lane's task is pulled, run and saved meanwhile.
        go = tmp_path / "go"
        wait = f"until [ -e {go} ]; do sleep 0.05; done"
        queued = project.run("shell", "-c", (
            "from django.conf import settings; from django_q.tasks import async_task; "
            "from nodes import nodename; node = settings.BANGUI_NODE; "
            f"async_task('subprocess.run', ['sh', '-c', {wait!r}], "
            "task_name='long-main', cluster=nodename.queue(node)); "
            "async_task('math.floor', 3.5, task_name='cmd-meanwhile', "
            "cluster=nodename.command_queue(node))"))
        assert queued.returncode == 0, queued.stderr
        text = wait_for_text(log, "Processed 'math.floor' (cmd-meanwhile)", timeout=30)
        assert "(long-main)" not in text
        go.touch()
        wait_for_text(log, "Processed 'subprocess.run' (long-main)", timeout=30)

        # A worker that dies is replaced (the main process guards both), and
        # its lane goes on.
        killed = _pid_named(proc.pid, "cmd worker")
        os.kill(killed, signal.SIGKILL)
        wait_for_text(log, "after death (cmd lane)", timeout=30)
        queued = project.run("shell", "-c", (
            "from django.conf import settings; from django_q.tasks import async_task; "
            "from nodes import nodename; async_task('math.floor', 4.5, task_name='cmd-after', "
            "cluster=nodename.command_queue(settings.BANGUI_NODE))"))
        assert queued.returncode == 0, queued.stderr
        wait_for_text(log, "Processed 'math.floor' (cmd-after)", timeout=30)
        assert _names(proc.pid) == NAMES
        assert _pid_named(proc.pid, "cmd worker") != killed

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        assert "worker lease released" in log.read_text()
    finally:
        project.close()


def test_only_the_main_lane_has_max_rss(monkeypatch):
    """The command lane's tick reaches the same peak every few seconds: a
    max_rss there would replace its worker after every tick."""
    from django_q.conf import Conf

    from nodes.management.commands.qcluster import NodeCluster

    monkeypatch.setattr(Conf, "MAX_RSS", 160 * 1024)
    monkeypatch.setattr(Conf, "POLL", 1)  # NodeCluster sets this process's to 0
    monkeypatch.setattr("django_q.brokers.get_broker", lambda queue: queue)  # no database
    lanes = {lane.name: lane for lane in NodeCluster("a", None, None).lanes}
    assert lanes["node"].max_rss == 160 * 1024
    assert lanes["cmd"].max_rss is None
    assert (lanes["node"].poll, lanes["cmd"].poll) == (1, 0.5)


def test_the_tick_gives_back_its_memory_even_when_it_fails(monkeypatch):
    released = []
    monkeypatch.setattr(node_worker, "release_memory", lambda: released.append(1))

    def down(node):
        raise RuntimeError("database gone")

    monkeypatch.setattr(node_worker, "publish_facts", down)
    with pytest.raises(RuntimeError):
        node_worker.run_tick()
    assert released == [1]


def test_release_memory_runs_here():
    node_worker.release_memory()  # glibc: malloc_trim; elsewhere only a collection
    node_worker.release_memory()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_private_mib_is_this_process_own_memory():
    before = node_worker.private_mib()
    block = bytearray(32 * 1024 * 1024)  # written: 32 MiB of this process's own
    assert node_worker.private_mib() - before > 24
    del block


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl")
def test_name_process_names_this_process_in_15_bytes():
    comm = Path("/proc/self/task") / str(__import__("threading").get_native_id()) / "comm"
    before = comm.read_text().strip()
    try:
        node_worker.name_process("a name longer than fifteen")
        assert comm.read_text().strip() == "a name longer t"
    finally:
        node_worker.name_process(before)


def test_the_node_checks_without_importing_the_views(tmp_path):
    """The URLconf's check imports every view (ninja, pydantic, allauth's,
    apprise): ~470 modules no task uses, in each of the node's processes."""
    code = ("import sys, django; django.setup(); "
            "from django.conf import settings; "
            "from nodes.management.commands.qcluster import Command; "
            "Command().check(); "
            "print(settings.ROOT_URLCONF in sys.modules, 'ninja' in sys.modules)")
    env = {**os.environ, "BANGUI_DATA_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "bangui.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_the_main_process_gives_back_its_memory_every_minute(monkeypatch):
    """The main process is never recycled: its loop gives back what it
    freed once a minute (a clock of its own here, nothing forked)."""
    import threading
    from types import SimpleNamespace

    from django_q.conf import Conf

    from nodes.management.commands import qcluster

    monkeypatch.setattr(Conf, "POLL", 1)
    monkeypatch.setattr("django_q.brokers.get_broker", lambda queue: queue)
    clock = [1000.0]
    released = []
    stop = threading.Event()
    monkeypatch.setattr(qcluster, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(qcluster, "release_memory", lambda: released.append(clock[0]))
    cluster = qcluster.NodeCluster("a", SimpleNamespace(beat=lambda: True, interval=10), stop)

    def one_step(until):  # each pass of the loop: 7 s later; stop after 5 minutes
        clock[0] += 7
        if clock[0] > 1300:
            stop.set()

    for name, stub in (("_spawn", lambda lane: None), ("_pull", lambda lane, cycle: 1),
                       ("_check_worker", lambda lane, cycle: None),
                       ("_schedule", lambda lane: None), ("_stop", lambda: None),
                       ("_save_results", one_step)):
        monkeypatch.setattr(cluster, name, stub)
    assert cluster.run() is True
    # The first pass past each minute (passes 7 s apart, from 1000).
    assert released == [1063, 1126, 1189, 1252]
