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
Exit codes: 0 after a clean stop, 1 when refused or when the lease was lost.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections
from django_q.management.commands.qcluster import Command as QclusterCommand

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
    publish_facts,
    worker_started,
)

logger = logging.getLogger("nodes.worker")

COMMAND_POLL_SECONDS = 0.5
# How long a stopping lane may take to finish the task in hand before its
# sentinel is killed (its workers follow: die_with_parent). Tasks commit in
# bounded batches and a killed import is closed at the next start, so a kill
# loses no finished work; systemd's own TimeoutStopSec is 90 s.
STOP_SECONDS = 20


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
        heartbeat = Heartbeat(lease)
        lost = False
        # Our handlers only set an event. django-q2's Cluster installs one
        # that joins the sentinel from inside the handler: a signal landing
        # while this process polls the sentinel's start event (holding that
        # event's lock) then deadlocks with the sentinel setting it.
        stop_requested = threading.Event()
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
    from django_q.brokers import get_broker
    from django_q.cluster import Cluster
    from django_q.conf import Conf

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
