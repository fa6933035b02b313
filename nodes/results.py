"""A finished task's result, saved by the node's cluster
(``nodes/management/commands/qcluster.py``).

django-q2's ``save_task`` catches every error and logs its traceback, and
its acknowledgement, a second query, raised one more (the soak's
``pg-restart`` fault met one in CI): a result that met PostgreSQL
restarting was dropped, its task left in its queue to run again after
``Q_CLUSTER["retry"]``. :func:`save_result` takes the same steps for
BanGUI's settings (``Q_CLUSTER``: no chains, no per-group save limit, no
cached results) in one transaction, the acknowledgement included, and
raises: the cluster keeps a result that met a transient error and saves
it again a little later (``NodeCluster._save_results``). Run twice, it
stores the result once (it is looked up by its task's id).
"""

from __future__ import annotations

from django.db import router, transaction
from django_q.brokers import Broker
from django_q.conf import Conf
from django_q.models import Success, Task
from django_q.utils import get_func_repr

PRUNE_ROWS = 1000


def save_result(task: dict, broker: Broker) -> None:
    """Store ``task``'s result (unless the task asked not to be saved) and
    acknowledge it in its queue, all or nothing."""
    with transaction.atomic(using=router.db_for_write(Task)):
        saved = task.get("save", Conf.SAVE_LIMIT >= 0) or not task["success"]
        attempts = _store(task) if saved else 1
        ack_id = task.get("ack_id")
        # Q_CLUSTER: max_attempts 1 and ack_failures, so every finished
        # task leaves its queue; django-q2's rule, kept for other settings.
        attempts_done = Conf.MAX_ATTEMPTS > 0 and attempts >= Conf.MAX_ATTEMPTS
        if ack_id and (task["success"] or task.get("ack_failure", False) or attempts_done):
            broker.acknowledge(ack_id)


def _store(task: dict) -> int:
    """Stores the result; returns the task's attempts so far."""
    if Conf.SAVE_LIMIT > 0 and task["success"]:
        # Keep the newest SAVE_LIMIT - 1 successes, so this one makes
        # SAVE_LIMIT (django-q2 deleted one a save, so it never caught up
        # once over the limit).
        # At most PRUNE_ROWS a save: one statement's parameters stay few
        # however far over the table is (a changed save_limit, an outage).
        old = Success.objects.values_list("pk", flat=True)[
            Conf.SAVE_LIMIT - 1:Conf.SAVE_LIMIT - 1 + PRUNE_ROWS]
        Success.objects.filter(pk__in=list(old)).delete()
    stored = Task.objects.select_for_update().filter(id=task["id"], name=task["name"]).first()
    if stored is None:
        Task.objects.create(
            id=task["id"], name=task["name"], func=get_func_repr(task["func"]),
            hook=task.get("hook"), args=task["args"], kwargs=task["kwargs"],
            cluster=task.get("cluster"), started=task["started"], stopped=task["stopped"],
            result=task["result"], group=task.get("group"), success=task["success"],
            attempt_count=1)
        return 1
    if not stored.success:  # a success is never overwritten
        stored.stopped, stored.result = task["stopped"], task["result"]
        stored.success = task["success"]
        stored.attempt_count += 1
        stored.save()
    return stored.attempt_count
