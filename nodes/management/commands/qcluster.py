"""``manage.py qcluster``: django-q2's cluster for this node
(``BANGUI_NODE``), started only when it may be that node's one cluster.

Overrides django-q2's command (``nodes`` is listed before ``django_q`` in
INSTALLED_APPS: Django takes a command from the first app that has it).
Before the cluster starts it refuses a configuration with more than one
worker (``nodes.checks``, also with ``--skip-checks``),
claims the node's lease (``nodes.worker``), publishes the node's facts and
writes the node's schedules (``bangui.schedules``); on shutdown the lease is
released. The node runs two lanes, each one django-q2 worker process: its
main queue (``Q_CLUSTER["cluster_name"]``: schedules, imports) and its
command queue (``nodes.nodename.command_queue``: fail2ban commands, the
tick). Everything else django-q2 spreads over a sentinel, a pusher and a
monitor per lane is done by this command's own process, in one thread
(:class:`NodeCluster`): it renews the lease, pulls each lane's tasks, saves
the results, runs the lanes' schedulers and guards the two workers. Three
processes a node instead of django-q2's nine (issue #29: a node's PSS).
Exit codes: 0 after a clean stop, 1 when refused or when the lease was lost.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
import uuid
from collections import deque
from multiprocessing import Value

from django.conf import settings
from django.core.checks import Tags
from django.core.checks.registry import registry
from django.core.management.base import CommandError
from django.db import DatabaseError, connections
from django_q.cluster import get_mp_context
from django_q.conf import Conf
from django_q.conf import logger as q_logger
from django_q.management.commands.qcluster import Command as QclusterCommand
from django_q.scheduler import scheduler
from django_q.signals import post_execute
from django_q.signing import BadSignature, SignedPackage
from django_q.utils import get_func_repr
from django_q.worker import worker

from bangui.dbretry import is_transient, retrying
from bangui.schedules import sync_schedules
from nodes import nodename
from nodes.checks import worker_errors
from nodes.results import save_result
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
# How long the stopping workers may take to finish the task in hand before
# they are killed (NodeCluster._stop says why that loses no finished work).
STOP_SECONDS = 20
# A worker whose own memory (not shared with the main process: nodes.worker.
# private_mib) is above this after a task, once what the task freed was given
# back, is replaced by a fresh fork (~10 MiB of its own after its first
# tasks): a tick that met 50,000 live bans left its worker ~35 MiB for good.
# Unlike max_rss (the peak, which never falls) it does not replace a worker
# after every tick; on both lanes, with max_rss still on the main lane.
RECYCLE_PRIVATE_MIB = 24
# The lanes' schedulers run every 30 s, as django-q2's sentinel runs its own.
SCHEDULER_SECONDS = 30
# The main process is never recycled, and what saving results and renewing
# the lease freed stayed its own (a helper's 18-minute run: 13 -> 21 MiB
# private, in steps): given back this often (nodes.worker.release_memory).
RELEASE_SECONDS = 60
# A result that met the database restarting is saved again this much later.
SAVE_AGAIN_SECONDS = 2
# A pull that failed (not a busy database: bangui.broker waits that out) is
# tried again this much later, as django-q2's pusher did before it died.
PULL_ERROR_SECONDS = 10


class Command(QclusterCommand):
    help = ("Start this node's django-q2 task cluster (BANGUI_NODE; one worker, under the "
            "node's database lease).")

    def check(self, *args, **kwargs):
        """Every system check but the URLconf's: checking the URLconf
        imports it, and with it every view (the API's ninja and pydantic,
        allauth's, apprise's transports): ~470 modules, which no task uses,
        in each of the node's processes (issue #29: a node's PSS). The web
        tier and every other command still check it."""
        saved = registry.registered_checks
        registry.registered_checks = {c for c in saved if Tags.urls not in c.tags}
        try:
            return super().check(*args, **kwargs)
        finally:
            registry.registered_checks = saved

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
        # The workers are forked from this process: they must not share its
        # database connection (closing it there would close it here).
        connections.close_all()
        die_with_parent()
        name_process("bangui qcluster")
        # Our handlers only set an event, which the loop looks at.
        stop_requested = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop_requested.set())
        heartbeat = Heartbeat(lease)
        lost = False
        _preload(node)
        _freeze()
        try:
            cluster = NodeCluster(node, heartbeat, stop_requested)
            lost = not cluster.run(once=bool(options.get("run_once")))
        finally:
            if not lost:
                try:
                    lease.release()
                    logger.info("worker lease released by %s", lease.holder)
                except Exception:
                    logger.exception("could not release the worker lease; it expires by itself")
        if lost:
            raise CommandError("The worker lease was lost; the cluster stopped.")


def _preload(node: str) -> None:
    """Import, before the forks, the modules of what the workers run: the
    schedules' and the tick hooks' functions and those of the tasks this
    node ran lately (commands, imports). This command no longer imports
    every view (``Command.check``), so a worker would otherwise import them
    itself, each into its own memory, again after each recycling: apprise,
    geoip2, the archive sync."""
    from django.utils.module_loading import import_string
    from django_q.models import Schedule, Task

    from bangui.hooks import app_hooks

    list(app_hooks("node_tick"))
    queues = [nodename.queue(node), nodename.command_queue(node)]
    funcs = set(Schedule.objects.filter(cluster__in=queues).values_list("func", flat=True))
    funcs |= set(Task.objects.filter(cluster__in=queues).order_by()
                 .values_list("func", flat=True).distinct()[:100])
    for func in funcs:
        try:
            import_string(func)
        except Exception:  # a task of an older version: the worker will say so
            logger.debug("could not preload %s", func)
    connections.close_all()


def _freeze() -> None:
    """Before a fork: what this process holds now is left out of every
    later collection (``gc.freeze``), here and in the children, so a
    child's collector never writes to the pages it shares with its
    parent (a full collection touched every object: each process ended up
    with its own copy of most of Django). What it freed first goes back
    to the system (``release_memory``): the start's first facts over
    50,000 live bans would otherwise stay in its heap, copied into every
    child's page tables and counted in the node's memory for good."""
    release_memory()
    gc.freeze()



class Lane:
    """One lane: its queue (the broker's list key, also the ``cluster`` its
    scheduler runs the schedules of and its results are stored with), its
    worker process, the worker's task queue (at most one task waits there,
    as django-q2's pusher held it) and when its queue is looked at next."""

    def __init__(self, name: str, queue: str, poll: float, max_rss: int | None) -> None:
        from django_q.brokers import get_broker

        self.name, self.queue, self.poll, self.max_rss = name, queue, poll, max_rss
        self.broker = get_broker(queue)
        self.task_queue = get_mp_context().Queue()
        self.worker = None
        self.next_pull = 0.0


class NodeCluster:
    """The node's two lanes, run from this process in one thread: the
    command lane (``nodename.command_queue``: fail2ban commands, the tick,
    the archive sync) and the main lane (``nodename.queue``: the other
    schedules, blocklist imports), each with its own worker, so a ban never
    waits behind a 120 s download or a 100,000-line import. Each lane's
    scheduler runs only the schedules stored with its queue
    (``Schedule.cluster``), so every schedule still runs in exactly one
    worker of the node. The command lane looks at its queue every
    COMMAND_POLL_SECONDS instead of the main lane's second (a command's
    latency is that poll: one small indexed query per look). Both workers
    put their results in one queue; each result is saved as it arrives.

    One thread: the workers are forked from a process no other thread of
    which holds a lock (a database client's, the logging's) at the fork,
    so the lease is renewed from this loop (``Heartbeat.beat``), not from
    its thread. A pull or a save that fails is logged and retried, never
    the end of the node; a lost lease or a stop request is."""

    def __init__(self, node: str, heartbeat: Heartbeat, stop_requested: threading.Event):
        self.heartbeat, self.stop_requested = heartbeat, stop_requested
        # No max_rss on the command lane: its tick (every few seconds)
        # reaches the same peak each time, so a bound under it would replace
        # the worker after every tick (the soak saw one every 5 s); the main
        # lane's long tasks (imports, backfills) are the ones whose peak
        # stays for good.
        self.lanes = [Lane("cmd", nodename.command_queue(node), COMMAND_POLL_SECONDS, None),
                      Lane("node", nodename.queue(node), Conf.POLL, Conf.MAX_RSS)]
        self.by_queue = {lane.queue: lane for lane in self.lanes}
        self.result_queue = get_mp_context().Queue()
        self.timeout = Conf.TIMEOUT
        self.unsaved: deque[dict] = deque()  # results kept for another try
        self.save_again_at = 0.0
        Conf.POLL = 0  # pulls wait in this loop, not in the broker's sleep

    def run(self, once: bool = False) -> bool:
        """Until a stop request or a lost lease; False when the lease was lost."""
        for lane in self.lanes:
            q_logger.info("Q Cluster %s starting.", lane.queue)  # django-q2's lines
            self._spawn(lane)
            q_logger.info("Q Cluster %s running.", lane.queue)
        cycle = Conf.GUARD_CYCLE
        now = time.monotonic()
        next_beat, next_guard, next_schedule = now, now + cycle, now + SCHEDULER_SECONDS
        next_release = now + RELEASE_SECONDS
        while not (once or self.stop_requested.is_set()):
            now = time.monotonic()
            if now >= next_beat:
                if not self.heartbeat.beat():
                    logger.error("worker lease lost: stopping the cluster")
                    self._stop()
                    return False
                next_beat = now + self.heartbeat.interval
            for lane in self.lanes:
                if now >= lane.next_pull:
                    lane.next_pull = now + self._pull(lane, cycle)
            if now >= next_guard:
                for lane in self.lanes:
                    self._check_worker(lane, cycle)
                if Conf.SCHEDULER and now >= next_schedule:
                    next_schedule = now + SCHEDULER_SECONDS
                    for lane in self.lanes:
                        self._schedule(lane)
                next_guard = now + cycle
            if now >= next_release:
                release_memory()
                next_release = now + RELEASE_SECONDS
            # At most half a second: a stop request is seen that soon.
            self._save_results(min(next_beat, next_guard, now + 0.5,
                                   *(lane.next_pull for lane in self.lanes)))
        self._stop()
        return True

    def _spawn(self, lane: Lane) -> None:
        timer = Value("f", -1)
        process = get_mp_context().Process(
            target=_named_worker, name=f"Process-{uuid.uuid4().hex}",
            args=(f"{lane.name} worker", lane.queue, lane.max_rss, lane.task_queue,
                  self.result_queue, timer, self.timeout))
        process.daemon = Conf.DAEMONIZE_WORKERS
        process.timer = timer
        lane.worker = process
        connections.close_all()  # the worker must not share this process's connection
        _freeze()
        process.start()

    def _check_worker(self, lane: Lane, cycle: float) -> None:
        """django-q2's guard: a dead, recycled or timed-out worker is
        replaced; a busy one's timeout counts down."""
        process = lane.worker
        with process.timer.get_lock():
            timer = process.timer.value
            if process.is_alive() and timer != 0:
                if timer > 0:
                    process.timer.value -= cycle
                return
        if int(timer) != -2:
            # Killed, it may hold its task queue's lock for good (it waited
            # in get()): the next worker gets a new queue. A task that
            # waited in the old one is run again after Q_CLUSTER["retry"],
            # as the one in hand.
            lane.task_queue.cancel_join_thread()
            lane.task_queue = get_mp_context().Queue()
        if timer == 0:
            process.terminate()  # its task is lost, as with django-q2
            process.join(5)
            q_logger.critical("reincarnated worker %s after timeout (%s lane)", process.name,
                              lane.name)
        elif int(timer) == -2:
            q_logger.info("recycled worker %s (%s lane)", process.name, lane.name)
        else:
            q_logger.critical("reincarnated worker %s after death (%s lane)", process.name,
                              lane.name)
        process.join(1)  # reaped: no zombie
        self._spawn(lane)

    def _schedule(self, lane: Lane) -> None:
        """django-q2's scheduler for one lane: it reads the lane from
        ``Conf.CLUSTER_NAME`` (this process's, the main lane's otherwise)."""
        if not self._database_up(f"scheduler of lane {lane.name}"):
            return  # at the next pass
        main = Conf.CLUSTER_NAME
        Conf.CLUSTER_NAME = lane.queue
        try:
            scheduler(broker=lane.broker)
        except Exception:
            q_logger.exception("scheduler of lane %s failed", lane.name)
            connections.close_all()
        finally:
            Conf.CLUSTER_NAME = main

    @staticmethod
    def _database_up(what: str) -> bool:
        """django-q2's scheduler logs any error with its traceback: the
        database is looked at first, so that a restart costs one warning
        line (a restart that begins during the few milliseconds of the
        scheduler's own queries is still logged as django-q2 logs it)."""
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except DatabaseError as exc:
            connections.close_all()
            if is_transient(exc):
                logger.warning("%s: the database is busy or unreachable (%s); trying at "
                               "the next pass", what, str(exc).strip().splitlines()[0])
            else:
                logger.exception("%s: the database failed", what)
            return False

    def _pull(self, lane: Lane, cycle: float) -> float:
        """The pusher's step: the lane's next task into its worker's queue.
        Returns the seconds until the next pull."""
        if not lane.task_queue.empty():
            return cycle  # one task waits already: look again at the next cycle
        try:
            task_set = lane.broker.dequeue()
        except Exception:
            q_logger.exception("Failed to pull task from broker")
            connections.close_all()
            return PULL_ERROR_SECONDS
        for ack_id, payload in task_set or ():
            try:
                task = SignedPackage.loads(payload)
            except (TypeError, BadSignature):
                q_logger.exception("Failed to push task to queue")
                lane.broker.fail(ack_id)
                continue
            task["cluster"] = lane.queue  # stored with the result; says whose it is
            task["ack_id"] = ack_id
            lane.task_queue.put(task)
        return 0 if task_set else lane.poll

    def _save_results(self, until: float) -> None:
        """The monitor's step: wait for results until ``until`` (monotonic),
        saving each one as it arrives. A result that met the database
        restarting or locked is kept, in order, and saved again
        SAVE_AGAIN_SECONDS later (its task stays in its queue until then);
        one warning line each time, no traceback."""
        from queue import Empty

        while True:
            now = time.monotonic()
            if self.unsaved and now >= self.save_again_at:
                task = self.unsaved.popleft()
            else:
                wait = min(until, self.save_again_at) if self.unsaved else until
                try:
                    task = self.result_queue.get(timeout=max(wait - now, 0))
                except Empty:
                    if time.monotonic() >= until:
                        return
                    continue
                if self.unsaved:  # behind the kept ones, in the order they came
                    self.unsaved.append(task)
                    continue
            try:
                self._save(task)
            except Exception as exc:
                connections.close_all()
                if not is_transient(exc):
                    q_logger.exception("Could not save task result")
                    self._acknowledge_only(task)
                    continue
                self.unsaved.appendleft(task)
                self.save_again_at = time.monotonic() + SAVE_AGAIN_SECONDS
                logger.warning("result of %s (%s) not saved yet: the database is busy or "
                               "unreachable (%s); saving again in %d s",
                               get_func_repr(task["func"]), task["name"],
                               str(exc).strip().splitlines()[0], SAVE_AGAIN_SECONDS)

    def _acknowledge_only(self, task: dict) -> None:
        """A result that cannot be saved (not for a while: for good) still
        takes its task out of its queue, as django-q2's monitor did, or the
        task would run again after Q_CLUSTER["retry"], fail the same way and
        come back, forever."""
        if not task.get("ack_id") or not (task["success"] or task.get("ack_failure", False)):
            return
        try:
            self.by_queue[task["cluster"]].broker.acknowledge(task["ack_id"])
        except Exception:
            q_logger.exception("Could not acknowledge task %s", task["name"])
            connections.close_all()

    def _save(self, task: dict) -> None:
        save_result(task, self.by_queue[task["cluster"]].broker)
        task.pop("ack_id", None)
        post_execute.send(sender="django_q", task=task)
        if task["success"]:
            q_logger.info("Processed '%s' (%s)", get_func_repr(task["func"]), task["name"])
        else:
            q_logger.error("Failed '%s' (%s) - %s", get_func_repr(task["func"]), task["name"],
                           task["result"])

    def _stop(self, seconds: float = STOP_SECONDS) -> None:
        """Both workers finish the task in hand (and the one waiting), their
        results saved meanwhile; after ``seconds`` together what is left is
        killed (tasks commit in bounded batches and a killed import is
        closed at the next start, so a kill loses no finished work;
        systemd's own TimeoutStopSec is 90 s). A signal sent to the whole
        process group (systemd's default, ``timeout``) killed them already."""
        for lane in self.lanes:
            if lane.worker.is_alive():
                logger.info("stopping lane %s", lane.name)
                lane.task_queue.put("STOP")
        deadline = time.monotonic() + seconds
        while any(lane.worker.is_alive() for lane in self.lanes):
            if time.monotonic() >= deadline:
                for lane in self.lanes:
                    if lane.worker.is_alive():
                        logger.error("lane %s did not stop within %d s: killed (its task "
                                     "is redone at the next start)", lane.name, seconds)
                        lane.worker.kill()
                        lane.worker.join(5)
                break
            self._save_results(time.monotonic() + 0.1)
        self.save_again_at = 0.0  # the kept results get one last try now
        self._save_results(time.monotonic())
        if self.unsaved:
            logger.warning("%d results not saved (the database is busy or unreachable): "
                           "their tasks stay queued and run again after %d s",
                           len(self.unsaved), Conf.RETRY)
        for lane in self.lanes:
            lane.worker.join(1)


def _named_worker(name: str, queue: str, max_rss: int | None, *args) -> None:
    """A lane's worker: django-q2's, with the lane's settings (a task it
    queues without a ``cluster`` goes to its own lane's queue), which after
    each task gives back what the task freed (nodes.worker.release_memory)
    and asks to be replaced when its own memory stays above
    RECYCLE_PRIVATE_MIB (django-q2's recycle check, in this process only).
    A stop signal ends it at once, as django-q2's workers (the main
    process's handlers only set an event this process has no loop for)."""
    from django_q import worker as q_worker
    from django_q.signals import post_execute_in_worker

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    name_process(name)
    Conf.CLUSTER_NAME, Conf.MAX_RSS = queue, max_rss
    post_execute_in_worker.connect(_release_after_task, weak=False,
                                   dispatch_uid="nodes.release_after_task")
    peak_check = q_worker.rss_check
    q_worker.rss_check = lambda: peak_check() or private_mib() > RECYCLE_PRIVATE_MIB
    worker(*args)


def _release_after_task(**kwargs) -> None:
    release_memory()
