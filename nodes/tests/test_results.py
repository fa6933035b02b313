"""A node through a database restart. Its cluster saves each task's result
and acknowledges its task in one transaction (nodes.results), keeps a result
that met the database restarting for another try (NodeCluster._save_results),
and skips a tick that met it. The real restart runs in bench/soak.py
(``pg-restart``); here the error a restart raises, on demand."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Success, Task

from nodes.management.commands import qcluster
from nodes.results import save_result

# Real transactions: the cluster closes its connections after an error,
# which a test's own transaction would not survive.
pytestmark = pytest.mark.django_db(transaction=True)

SHUTTING_DOWN = ("connection failed: connection to server at \"127.0.0.1\", port 5432 "
                 "failed: FATAL:  the database system is shutting down")


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.setattr(Conf, "POLL", Conf.POLL)  # NodeCluster sets it to 0
    monkeypatch.setattr(qcluster, "SAVE_AGAIN_SECONDS", 0.05)
    return qcluster.NodeCluster("a", SimpleNamespace(beat=lambda: True, interval=10),
                                threading.Event())


def _finished(cluster, name: str, *, success: bool = True, save: bool = True,
              stopped=None) -> dict:
    """A task as a lane's worker hands it back: queued, pulled, run."""
    lane = cluster.lanes[0]
    ack_id = lane.broker.enqueue("payload")
    stopped = stopped or timezone.now()
    return {"id": f"id-{name}", "name": name, "func": "nodes.worker.run_tick", "args": (),
            "kwargs": {}, "started": stopped - timedelta(seconds=1), "stopped": stopped,
            "result": "done" if success else "Traceback: boom", "success": success,
            "save": save, "ack_id": ack_id, "cluster": lane.queue, "ack_failure": True}


def test_a_result_is_stored_once_and_its_task_leaves_the_queue(cluster):
    task = _finished(cluster, "one")
    save_result(dict(task), cluster.lanes[0].broker)
    save_result(dict(task), cluster.lanes[0].broker)  # a second try stores nothing new
    assert list(Task.objects.values_list("name", "result", "attempt_count")) == [
        ("one", "done", 1)]
    assert not OrmQ.objects.exists()


def test_an_unsaved_task_only_leaves_the_queue_and_a_failure_never_hides_a_success(cluster):
    save_result(_finished(cluster, "tick", save=False), cluster.lanes[0].broker)
    assert not Task.objects.exists() and not OrmQ.objects.exists()
    ok = _finished(cluster, "once")
    save_result(dict(ok), cluster.lanes[0].broker)
    save_result({**ok, "success": False, "result": "later failure"}, cluster.lanes[0].broker)
    assert list(Task.objects.values_list("success", "result")) == [(True, "done")]


def test_successes_are_kept_to_the_save_limit_newest_first(cluster, monkeypatch):
    monkeypatch.setattr(Conf, "SAVE_LIMIT", 10)
    start = timezone.now()
    # Saved newest first: the oldest have the highest ids.
    for i in reversed(range(8)):
        save_result(_finished(cluster, f"t{i}", stopped=start + timedelta(seconds=i)),
                    cluster.lanes[0].broker)
    monkeypatch.setattr(Conf, "SAVE_LIMIT", 3)  # far over it now: caught up at once
    save_result(_finished(cluster, "t8", stopped=start + timedelta(seconds=8)),
                cluster.lanes[0].broker)
    save_result(_finished(cluster, "failed", success=False), cluster.lanes[0].broker)
    assert sorted(Success.objects.values_list("name", flat=True)) == ["t6", "t7", "t8"]
    assert Task.objects.filter(success=False).count() == 1


def test_a_result_that_meets_a_restart_is_kept_and_saved_again(cluster, monkeypatch, caplog):
    broker = cluster.lanes[0].broker
    real, calls = broker.acknowledge, []

    def restarting(ack_id):
        calls.append(ack_id)
        if len(calls) < 3:  # the database comes back at the third try
            raise OperationalError(SHUTTING_DOWN)
        return real(ack_id)

    monkeypatch.setattr(broker, "acknowledge", restarting)
    first, second = _finished(cluster, "first"), _finished(cluster, "second")
    cluster.result_queue.put(first)
    cluster.result_queue.put(second)
    with caplog.at_level(logging.INFO):
        deadline = time.monotonic() + 5
        while (cluster.unsaved or Task.objects.count() < 2) and time.monotonic() < deadline:
            cluster._save_results(time.monotonic() + 0.2)
    # Saved once each, in the order they came, and both tasks left the queue.
    assert list(Task.objects.order_by("stopped").values_list("name", flat=True)) == [
        "first", "second"]
    assert calls == [first["ack_id"]] * 3 + [second["ack_id"]]
    assert not OrmQ.objects.exists()
    warnings = [r for r in caplog.records if "not saved yet" in r.getMessage()]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    assert "the database system is shutting down); saving again" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)  # no traceback
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("Processed")
            ] == ["Processed 'nodes.worker.run_tick' (first)",
                  "Processed 'nodes.worker.run_tick' (second)"]


def test_a_result_that_meets_any_other_error_is_logged_with_its_traceback(cluster, monkeypatch,
                                                                          caplog):
    def broken(ack_id):
        raise OperationalError("no such table: django_q_ormq")

    monkeypatch.setattr(qcluster, "save_result", lambda task, broker: broken(None))
    cluster.result_queue.put(_finished(cluster, "lost"))
    with caplog.at_level(logging.ERROR):
        cluster._save_results(time.monotonic() + 0.2)
    assert not cluster.unsaved  # not tried again: it would fail the same way
    assert not Task.objects.exists()  # nothing half saved
    # ... but the task leaves its queue: run again, it would fail again.
    assert not OrmQ.objects.exists()
    [record] = [r for r in caplog.records if r.getMessage() == "Could not save task result"]
    assert record.exc_info


def test_the_scheduler_waits_out_a_restart_in_one_line(cluster, monkeypatch, caplog):
    ran = []
    monkeypatch.setattr(qcluster, "scheduler", lambda broker: ran.append(broker))
    real = qcluster.connections

    class Down:  # every connection refused, as while PostgreSQL shuts down
        def __getitem__(self, alias):
            return self

        def cursor(self):
            raise OperationalError(SHUTTING_DOWN)

        def close_all(self):
            pass

    monkeypatch.setattr(qcluster, "connections", Down())
    with caplog.at_level(logging.WARNING):
        cluster._schedule(cluster.lanes[1])
    assert ran == []
    assert "scheduler of lane node: the database is busy or unreachable" in caplog.text
    assert not any(r.exc_info for r in caplog.records)
    monkeypatch.setattr(qcluster, "connections", real)  # back: the scheduler runs
    cluster._schedule(cluster.lanes[1])
    assert ran == [cluster.lanes[1].broker]


def test_a_tick_that_meets_a_restart_is_skipped_in_one_line(monkeypatch, caplog):
    """The tick's first query is the facts hook's (the archive's sync
    time): a restart there is the database's, not fail2ban's."""
    from nodes import worker

    def facts_hook():
        raise OperationalError(SHUTTING_DOWN)

    ran = []
    monkeypatch.setattr(worker, "app_hook", lambda name: facts_hook)
    monkeypatch.setattr(worker, "app_hooks", lambda name: [("hook", lambda: ran.append(1))])
    with caplog.at_level(logging.WARNING):
        worker.run_tick()  # no error: the task is not a failure with a traceback
    assert ran == []
    assert "node tick: the database is busy or unreachable" in caplog.text
    assert not any(r.exc_info for r in caplog.records)

    def broken():
        raise OperationalError("no such table: jails_syncstate")

    monkeypatch.setattr(worker, "app_hook", lambda name: broken)  # not a restart:
    with caplog.at_level(logging.ERROR):
        worker.run_tick()  # logged, and fail2ban marked down, as before
    assert "node facts hook failed" in caplog.text
