"""``manage.py qcluster``: django-q2's cluster for this node
(``BANGUI_NODE``), started only when it may be that node's one cluster.

Overrides django-q2's command (``nodes`` is listed before ``django_q`` in
INSTALLED_APPS: Django takes a command from the first app that has it).
Before the cluster starts it refuses a configuration with more than one
worker (``nodes.checks``, also with ``--skip-checks``),
claims the node's lease (``nodes.worker``), publishes the node's facts and
writes the node's schedules (``bangui.schedules``); while the cluster runs a
heartbeat thread renews the lease; on shutdown the lease is released. The
node runs two one-worker lanes (:func:`_start_clusters`): its main queue
(``Q_CLUSTER["cluster_name"]``: schedules, ticks, imports) and its command
queue (``nodes.nodename.command_queue``); the node stops when either dies.
Each lane is two processes, not django-q2's four: its sentinel
(:class:`LaneSentinel`) also pulls the tasks and saves the results, the
work of django-q2's pusher and monitor processes (issue #29: a node's
PSS), and forks the worker.
Exit codes: 0 after a clean stop, 1 when refused or when the lease was lost.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
import uuid
from multiprocessing import Value

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections
from django_q.cluster import Sentinel, get_mp_context
from django_q.conf import Conf
from django_q.conf import logger as q_logger
from django_q.management.commands.qcluster import Command as QclusterCommand
from django_q.monitor import save_cached, save_task
from django_q.scheduler import scheduler
from django_q.signals import post_execute
from django_q.signing import BadSignature, SignedPackage
from django_q.status import Stat
from django_q.utils import get_func_repr
from django_q.worker import worker

from bangui.dbretry import is_transient, retrying
from bangui.schedules import sync_schedules
from nodes import nodename
from nodes.checks import worker_errors
from nodes.worker import (
    Heartbeat,
    Lease,
    LeaseHeld,
    die_with_parent,
    holder_id,
    name_process,
    private_mib,
    publish_facts,
    release_memory,
    worker_started,
)

logger = logging.getLogger("nodes.worker")

COMMAND_POLL_SECONDS = 0.5
# How long a stopping lane may take to finish the task in hand before its
# sentinel is killed (its workers follow: die_with_parent). Tasks commit in
# bounded batches and a killed import is closed at the next start, so a kill
# loses no finished work; systemd's own TimeoutStopSec is 90 s.
STOP_SECONDS = 20
# A worker whose own memory (not shared with its sentinel: nodes.worker.
# private_mib) is above this after a task, once what the task freed was given
# back, is replaced by a fresh fork (~10 MiB of its own after its first
# tasks): a tick that met 50,000 live bans left its worker ~35 MiB for good.
# Unlike max_rss (the peak, which never falls) it does not replace a worker
# after every tick; on both lanes, with max_rss still on the main lane.
RECYCLE_PRIVATE_MIB = 24
# django-q2's sentinel runs its scheduler every 30 s of guard cycles.
SCHEDULER_SECONDS = 30
# A pull that failed (not a busy database: bangui.broker waits that out) is
# tried again this much later, as django-q2's pusher did before it died.
PULL_ERROR_SECONDS = 10


class Command(QclusterCommand):
    help = ("Start this node's django-q2 task cluster (BANGUI_NODE; one worker, under the "
            "node's database lease).")

    def handle(self, *args, **options):
        errors = worker_errors()
        if errors:
            raise CommandError("\n".join(f"{e.id}: {e.msg}\nHINT: {e.hint}" for e in errors))
        if options.get("cluster_name"):
            raise CommandError("A node's cluster reads its node's queue: --name is not "
                               "supported (set BANGUI_NODE).")
        settings.SECRET_KEY  # noqa: B018 (django-q2 signs with it; fail before starting)

        node = settings.BANGUI_NODE
        lease = Lease(node, holder_id(), settings.BANGUI_WORKER_LEASE_SECONDS)
        try:
            # A busy or restarting database at start is waited out, not died
            # of (every queued task would wait behind a dead worker, and
            # nothing would say so). Each step is safe to run again.
            retrying(lease.acquire, what="worker start (lease)")
        except LeaseHeld as exc:
            raise CommandError(str(exc)) from None
        logger.info("worker lease of node %s acquired by %s (%d s, renewed every %d s)", node,
                    lease.holder, lease.seconds, max(lease.seconds // 3, 1))
        retrying(lambda: publish_facts(node), what="worker start (facts)")
        report = retrying(lambda: sync_schedules(node=node), what="worker start (schedules)")
        logger.info("schedules of node %s: %s", node, report)
        for receiver, error in worker_started.send_robust(sender=self.__class__):
            if error is not None and is_transient(error):
                try:
                    retrying(lambda r=receiver: r(signal=worker_started, sender=self.__class__),
                             what=f"worker start hook {receiver.__name__}")
                    error = None
                except Exception as exc:
                    error = exc
            if error is not None:
                logger.error("worker start hook %r failed: %s", receiver, error)
        # The sentinel is forked next: it must not share this process's
        # database connection (closing it there would close it here).
        connections.close_all()
        die_with_parent()
        name_process("bangui qcluster")
        heartbeat = Heartbeat(lease)
        lost = False
        # Our handlers only set an event. django-q2's Cluster installs one
        # that joins the sentinel from inside the handler: a signal landing
        # while this process polls the sentinel's start event (holding that
        # event's lock) then deadlocks with the sentinel setting it.
        stop_requested = threading.Event()
        _freeze()
        try:
            try:
                commands, cluster = _start_clusters(node, stop_requested)
            except RuntimeError:  # a sentinel died while starting
                if stop_requested.is_set():
                    return  # killed by a signal to the whole group: a stop
                raise
            if options.get("run_once"):
                _stop_lanes((cluster, commands))
                return
            heartbeat.start()  # after the fork: no thread is copied into the sentinel
            both = (cluster, commands)
            while all(c.sentinel.is_alive() for c in both):
                if heartbeat.lost.is_set():
                    lost = True
                    logger.error("worker lease lost: stopping the cluster")
                    break
                if stop_requested.wait(0.5):
                    # A signal sent to the whole process group (systemd's
                    # default, `timeout`) also killed the sentinels; setting
                    # django-q2's stop event then would wait forever for them.
                    time.sleep(0.5)
                    break
            _stop_lanes(both)  # one lane gone (or a stop): the node stops whole
        finally:
            heartbeat.stop()
            if not lost:
                try:
                    lease.release()
                    logger.info("worker lease released by %s", lease.holder)
                except Exception:
                    logger.exception("could not release the worker lease; it expires by itself")
        if lost:
            raise CommandError("The worker lease was lost; the cluster stopped.")


def _freeze() -> None:
    """Before a fork: what this process holds now is left out of every
    later collection (``gc.freeze``), here and in the children, so a
    child's collector never writes to the pages it shares with its
    parent (a full collection touched every object: each process ended up
    with its own copy of most of Django)."""
    gc.collect()
    gc.freeze()


def _own_signals(stop_requested: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.set())


def _stop_lanes(lanes, seconds: float = STOP_SECONDS) -> None:
    """Ask every live lane to stop at once, give them ``seconds`` together
    to finish the task in hand, then kill what is left."""
    for lane in lanes:
        if lane.sentinel.is_alive():
            logger.info("stopping lane %s", lane.name)
            lane.stop_event.set()
    deadline = time.monotonic() + seconds
    for lane in lanes:
        lane.sentinel.join(max(deadline - time.monotonic(), 0))
        if lane.sentinel.is_alive():
            logger.error("lane %s did not stop within %d s: killed (its task is redone "
                         "at the next start)", lane.name, seconds)
            lane.sentinel.kill()
            lane.sentinel.join(5)


def _start_clusters(node: str, stop_requested: threading.Event):
    """The node's two lanes, each a one-worker django-q2 cluster: the
    command lane (``nodename.command_queue``: fail2ban commands, the tick,
    the archive sync) and the main lane (``nodename.queue``: the other
    schedules, blocklist imports). A ban then never waits behind a 120 s
    download. Each lane's scheduler runs only the schedules stored with its
    queue (``Schedule.cluster``), so every schedule still runs in exactly
    one worker of the node. The command lane looks at its queue every
    COMMAND_POLL_SECONDS instead of the main lane's second (a command's
    latency is that poll: one small indexed query per look). A stop
    requested while they start is acted on once both run."""
    from django_q import cluster as q_cluster
    from django_q.brokers import get_broker
    from django_q.cluster import Cluster

    q_cluster.Sentinel = LaneSentinel  # what Cluster.start forks
    main = Conf.CLUSTER_NAME, Conf.POLL, Conf.MAX_RSS
    # The command lane's sentinel is forked with its own name (its
    # scheduler then runs the schedules of that queue: the archive sync) and
    # a quicker poll; Conf is read in the sentinel process, a copy made at
    # the fork. No max_rss there: its tick (every few seconds) reaches the
    # same peak each time, so a bound under it would replace the worker
    # after every tick (the soak saw one every 5 s); the main lane's long
    # tasks (imports, backfills) are the ones whose peak stays for good.
    Conf.CLUSTER_NAME, Conf.POLL = nodename.command_queue(node), COMMAND_POLL_SECONDS
    Conf.MAX_RSS = None
    try:
        commands = Cluster(get_broker(nodename.command_queue(node)))
        _own_signals(stop_requested)  # Cluster() installed django-q2's
        # The ORM broker opened this process's connection: a forked sentinel
        # must not share it (its exit would close it here).
        connections.close_all()
        commands.start()
    finally:
        Conf.CLUSTER_NAME, Conf.POLL, Conf.MAX_RSS = main
    connections.close_all()
    cluster = Cluster()
    _own_signals(stop_requested)
    try:
        cluster.start()
    except RuntimeError:
        _stop_lanes((commands,))
        raise
    return commands, cluster


def _lane(cluster_name: str) -> str:
    return "cmd" if cluster_name.startswith(nodename.COMMAND_QUEUE_PREFIX) else "node"


def _named_worker(name: str, *args) -> None:
    """A lane's worker: django-q2's, which after each task gives back what
    the task freed (nodes.worker.release_memory) and asks to be replaced
    when its own memory stays above RECYCLE_PRIVATE_MIB (django-q2's
    recycle check, in this process only)."""
    from django_q import worker as q_worker
    from django_q.signals import post_execute_in_worker

    name_process(name)
    post_execute_in_worker.connect(_release_after_task, weak=False,
                                   dispatch_uid="nodes.release_after_task")
    peak_check = q_worker.rss_check
    q_worker.rss_check = lambda: peak_check() or private_mib() > RECYCLE_PRIVATE_MIB
    worker(*args)


def _release_after_task(**kwargs) -> None:
    release_memory()


class LaneSentinel(Sentinel):
    """django-q2's sentinel (it forks and guards the worker, runs the
    lane's scheduler, keeps its status) doing its pusher's and monitor's
    work itself, in its own loop: it pulls the next task from the broker
    when the worker's task queue is empty (one task ahead, as the pusher
    held it) and saves each result as it arrives (the monitor's
    ``save_task``, the acknowledgement, ``post_execute``, the same log
    lines). Two processes a lane instead of four, each ~7-11 MiB of
    private memory (issue #29: a node's PSS). One thread: the worker is
    forked from a process no other thread of which holds a lock (a
    database client's, the logging's) at the fork. A pull or a save that
    fails is logged and retried, never the end of the lane."""

    def __init__(self, *args, **kwargs):
        self.lane = _lane(Conf.CLUSTER_NAME)
        name_process(f"{self.lane} sentinel")
        # Pulls wait in this loop, not in the broker's sleep (this process's
        # copy of Conf: the main process and the other lane keep theirs).
        self.poll = Conf.POLL
        Conf.POLL = 0
        super().__init__(*args, **kwargs)

    def spawn_cluster(self):
        self.pool = []
        Stat(self).save()
        connections.close_all()  # the worker must not share this process's connection
        for _ in range(self.pool_size):
            self.spawn_worker()

    def spawn_worker(self):
        timer = Value("f", -1)
        process = get_mp_context().Process(
            target=_named_worker, name=f"Process-{uuid.uuid4().hex}",
            args=(f"{self.lane} worker", self.task_queue, self.result_queue, timer,
                  self.timeout))
        process.daemon = Conf.DAEMONIZE_WORKERS
        process.timer = timer
        self.pool.append(process)
        connections.close_all()
        _freeze()
        process.start()

    def status(self) -> str:
        started, stopping = self.start_event.is_set(), self.stop_event.is_set()
        if not started and not stopping:
            return Conf.STARTING
        if not stopping:
            if self.result_queue.empty() and self.task_queue.empty():
                return Conf.IDLE
            return Conf.WORKING
        return Conf.STOPPING if self.pool else Conf.STOPPED

    def guard(self):
        name = f"{self.cluster_name()} [{self.queue_name()}]"
        q_logger.info("%s guarding cluster %s", self.name, name)
        self.start_event.set()
        Stat(self).save()
        q_logger.info("Q Cluster %s running.", name)
        cycle = Conf.GUARD_CYCLE
        now = time.monotonic()
        next_pull, next_guard, next_schedule = now, now + cycle, now + SCHEDULER_SECONDS
        while not self.stop_event.is_set():
            now = time.monotonic()
            if now >= next_pull:
                next_pull = now + self._pull(cycle)
            if now >= next_guard:
                self._check_workers(cycle)
                if Conf.SCHEDULER and now >= next_schedule:
                    next_schedule = now + SCHEDULER_SECONDS
                    scheduler(broker=self.broker)
                Stat(self).save()
                next_guard = now + cycle
            self._save_results(min(next_pull, next_guard))
        self.stop()

    def cluster_name(self) -> str:
        from django_q.humanhash import humanize

        return humanize(self.cluster_id.hex)

    def _check_workers(self, cycle: float) -> None:
        for process in list(self.pool):
            with process.timer.get_lock():
                if not process.is_alive() or process.timer.value == 0:
                    self.reincarnate(process)
                    continue
                if process.timer.value > 0:  # busy: count its timeout down
                    process.timer.value -= cycle

    def _pull(self, cycle: float) -> float:
        """The pusher's step: the next task into the worker's queue. Returns
        the seconds until the next pull."""
        if not self.task_queue.empty():
            return cycle  # one task waits already: look again at the next cycle
        try:
            task_set = self.broker.dequeue()
        except Exception:
            q_logger.exception("Failed to pull task from broker")
            connections.close_all()
            return PULL_ERROR_SECONDS
        for ack_id, payload in task_set or ():
            try:
                task = SignedPackage.loads(payload)
            except (TypeError, BadSignature):
                q_logger.exception("Failed to push task to queue")
                self.broker.fail(ack_id)
                continue
            task["cluster"] = Conf.CLUSTER_NAME  # the lane's queue, stored with the result
            task["ack_id"] = ack_id
            self.task_queue.put(task)
        return 0 if task_set else self.poll

    def _save_results(self, until: float) -> None:
        """The monitor's step: wait for results until ``until`` (monotonic),
        saving each one as it arrives."""
        from queue import Empty

        while True:
            try:
                task = self.result_queue.get(timeout=max(until - time.monotonic(), 0))
            except Empty:
                return
            try:
                self._save(task)
            except Exception:
                q_logger.exception("Could not save task result")
                connections.close_all()

    def _save(self, task: dict) -> None:
        if task.get("cached", False):
            save_cached(task, self.broker)
        else:
            save_task(task, self.broker)
        ack_id = task.pop("ack_id", False)
        if ack_id and (task["success"] or task.get("ack_failure", False)):
            self.broker.acknowledge(ack_id)
        post_execute.send(sender="django_q", task=task)
        if task["success"]:
            q_logger.info("Processed '%s' (%s)", get_func_repr(task["func"]), task["name"])
        else:
            q_logger.error("Failed '%s' (%s) - %s", get_func_repr(task["func"]), task["name"],
                           task["result"])

    def stop(self):
        Stat(self).save()
        q_logger.info("%s stopping cluster processes", self.name)
        for _ in range(len(self.pool)):
            self.task_queue.put("STOP")  # after the task in hand and the one waiting
        self.task_queue.close()
        self.task_queue.join_thread()
        while self.pool:
            for process in list(self.pool):
                if not process.is_alive():
                    self.pool.remove(process)
            self._save_results(time.monotonic() + 0.1)
            Stat(self).save()
        self._save_results(time.monotonic())
        Stat(self).save()
