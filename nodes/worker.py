"""One task cluster per node: the database lease and its heartbeat.

``manage.py qcluster`` (BanGUI's override, ``nodes/management/commands``)
claims its node's :class:`~nodes.models.Node` row (``BANGUI_NODE``) before
it starts django-q2's cluster, renews it from a :class:`Heartbeat` thread
in its main process every third of the lease time (and queues the node's
tick, :func:`queue_tick`: the thread itself never talks to fail2ban), and
releases it on a clean shutdown.
A second cluster for the same node finds the lease held and refuses to
start; clusters of other nodes hold their own rows. A cluster killed with
``kill -9`` stops renewing, and the next start takes over once
``expires_at`` has passed (``BANGUI_WORKER_LEASE_SECONDS``).

Times come from the clock of the process writing them: hosts sharing a
PostgreSQL database must keep their clocks in sync (NTP).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone
from django_q.models import OrmQ
from django_q.tasks import async_task

from bangui.dbretry import is_transient
from bangui.hooks import app_hook, app_hooks
from nodes import nodename
from nodes.models import Node

logger = logging.getLogger(__name__)

# Sent once the cluster holds the lease, before it starts taking tasks: the
# apps clean up what a killed predecessor left (blocklists: import runs
# still marked "running"). Receivers must be quick and must not raise.
worker_started = Signal()


def holder_id() -> str:
    """hostname:pid:random: unique per start, readable in an error message."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseHeld(Exception):
    def __init__(self, node: str, holder: str, expires_at: datetime | None) -> None:
        self.node = node
        self.holder = holder
        self.expires_at = expires_at
        when = expires_at.isoformat(timespec="seconds") if expires_at else "unknown"
        super().__init__(
            f"Another BanGUI task cluster holds the lease of node {node!r}: {holder} "
            f"(expires {when} unless renewed). A node runs exactly one cluster "
            "(its fail2ban, GeoCache memory and schedules assume it). Stop the other "
            "one first; if it was killed, this start succeeds once the lease expires. "
            "A cluster for another host needs its own BANGUI_NODE."
        )


@dataclass
class Lease:
    node: str
    holder: str
    seconds: int

    def _times(self) -> tuple[datetime, datetime]:
        now = timezone.now()
        return now, now + timedelta(seconds=self.seconds)

    def acquire(self) -> None:
        """Claim the lease if it is free or expired; raise LeaseHeld if not."""
        now, expires = self._times()
        claimed = Node.objects.filter(pk=self.node).filter(
            # Our own holder too: a retried start whose first claim landed.
            Q(holder="") | Q(holder=self.holder) | Q(expires_at__lte=now)
            | Q(expires_at__isnull=True)
        ).update(holder=self.holder, acquired_at=now, heartbeat_at=now, expires_at=expires)
        if claimed:
            return
        try:
            with transaction.atomic():
                Node.objects.create(pk=self.node, holder=self.holder, acquired_at=now,
                                    heartbeat_at=now, expires_at=expires)
            return
        except IntegrityError:
            pass  # the row exists and is held (or was just claimed by another start)
        row = Node.objects.get(pk=self.node)
        raise LeaseHeld(self.node, row.holder, row.expires_at)

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours."""
        now, expires = self._times()
        return bool(Node.objects.filter(pk=self.node, holder=self.holder)
                    .update(heartbeat_at=now, expires_at=expires))

    def release(self) -> None:
        Node.objects.filter(pk=self.node, holder=self.holder).update(
            holder="", expires_at=timezone.now())


def publish_facts(node: str) -> None:
    """Store what the node's worker sees of its fail2ban on its row: the
    ``node_facts`` hook (jails.health.node_facts) returns a dict of Node
    fields (fail2ban_up, fail2ban_version, jails, jail_counts, jail_settings,
    configured_jails, server_settings, filters, archive_synced_at). Called
    at start and from the heartbeat; a failing hook marks fail2ban down, but
    a database restarting or locked is raised (``is_transient``): the
    callers retry."""
    hook = app_hook("node_facts")
    facts = {}
    if hook is not None:
        try:
            facts = dict(hook())
        except Exception as exc:  # a hook must not stop the heartbeat
            if is_transient(exc):  # the database restarting, not fail2ban: callers wait it out
                raise
            logger.exception("node facts hook failed")
            facts = {"fail2ban_up": False}
    allowed = {"fail2ban_up", "fail2ban_version", "jails", "jail_counts", "jail_settings",
               "configured_jails", "server_settings", "filters", "archive_synced_at"}
    Node.objects.filter(pk=node).update(
        facts_at=timezone.now(), **{k: v for k, v in facts.items() if k in allowed})


class Heartbeat(threading.Thread):
    """Renews the lease every ``seconds / 3``. Sets ``lost`` when the row is
    no longer ours or could not be renewed for a whole lease time (the
    caller then stops the cluster: another one may have taken over)."""

    def __init__(self, lease: Lease, facts_seconds: float | None = None) -> None:
        super().__init__(name="bangui-lease-heartbeat", daemon=True)
        self.lease = lease
        # The facts (fail2ban up, jails) and the node tick go out every few
        # seconds; the lease is renewed with every beat, at least that often.
        tick = settings.BANGUI_NODE_TICK_SECONDS if facts_seconds is None else facts_seconds
        self.interval = max(min(lease.seconds / 3, tick or 5), 0.5)
        self.ticks = bool(tick)
        self.lost = threading.Event()
        self._halt = threading.Event()
        self._last_ok = time.monotonic()

    def run(self) -> None:
        try:
            while not self._halt.wait(self.interval):
                if not self.beat():
                    return
        finally:
            connections.close_all()  # this thread's connections

    def beat(self) -> bool:
        """One beat: renew the lease and queue the tick. False (and ``lost``
        set) once the lease is lost. Also called, without the thread, from
        the loop of a process that must stay single-threaded (the node's
        cluster forks its workers from it)."""
        try:
            if not self.lease.renew():
                logger.error("worker lease lost: another cluster holds it")
                self.lost.set()
                return False
            self._last_ok = time.monotonic()
            # Database rows only: the lease must never wait on fail2ban.
            queue_tick(self.lease.node, hooks=self.ticks)
        except DatabaseError as exc:
            if is_transient(exc):  # a restart, a lock: the next beat retries
                logger.warning("worker lease heartbeat: the database is busy or "
                               "unreachable (%s); retrying at the next beat",
                               str(exc).strip().splitlines()[0])
            else:
                logger.exception("worker lease heartbeat failed")
            connections.close_all()
            if time.monotonic() - self._last_ok > self.lease.seconds:
                self.lost.set()
                return False
        return True

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)


def queue_tick(node: str, hooks: bool = True) -> bool:
    """Queue the node's tick to its command lane, unless that queue already
    holds a task: at most one waits. The tick publishes the node's facts
    (:func:`publish_facts`: it asks fail2ban, which the heartbeat thread
    must not) and, with ``hooks``, runs the apps' ``node_tick`` hooks (jails:
    sync the archive, bounded per tick; shared bans; live bans). On the
    command lane, never behind a 120 s download of the main lane, and never
    beside the scheduled archive sync, which runs there too. True when
    queued.

    Only a task still waiting counts, as the broker counts its queue
    (``lock`` not in the future): a task pulled by a cluster that was then
    killed stays locked for ``Q_CLUSTER["retry"]`` (10 minutes), and while
    it counted, the restarted node queued no tick and synced nothing for
    that long."""
    queue = nodename.command_queue(node)
    if OrmQ.objects.filter(key=queue, lock__lte=timezone.now()).exists():
        return False
    async_task("nodes.worker.run_tick", hooks, cluster=queue, save=False,
               task_name="node tick")
    return True


def run_tick(hooks: bool = True) -> None:
    """The tick task, on the node it runs on: its facts, then every app's
    ``node_tick`` hook. Quiet on failure (the scheduled runs record errors;
    a tick every few seconds would flood the failed-task list)."""
    try:
        try:
            publish_facts(settings.BANGUI_NODE)
        except DatabaseError as exc:
            if not is_transient(exc):
                raise
            # A restart or a lock: the next tick, seconds away, tries again.
            logger.warning("node tick: the database is busy or unreachable (%s); skipped",
                           str(exc).strip().splitlines()[0])
            return
        if not hooks:
            return
        for name, hook in app_hooks("node_tick"):
            try:
                hook()
            except Exception as exc:
                logger.debug("node tick %s failed: %s", name, exc)
    finally:
        release_memory()


def release_memory() -> None:
    """Give back to the system what a task freed. The tick runs every few
    seconds in a worker that lives for hundreds of tasks (django-q2's
    ``recycle``), and the ticks that met 50,000 live bans (a first
    publish, an archive sync of a burst) left the worker with ~100 MiB of
    its own for good (bench/load.py --node-pss; ~33 MiB with this):
    CPython returns an arena only when all of it is free, and glibc's
    heap returns nothing below its top. A full collection first (the ORM's
    rows hold cycles), then ``malloc_trim(0)``: glibc hands back every
    free page of its heap (~1 ms when there is little to give; Linux and
    glibc only, otherwise nothing)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_TRIM: list = []


def _malloc_trim():
    if not _TRIM:
        function = None
        if sys.platform.startswith("linux"):
            try:
                function = ctypes.CDLL(None).malloc_trim
                function.argtypes, function.restype = [ctypes.c_size_t], ctypes.c_int
            except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
                function = None
        _TRIM.append(function)
    return _TRIM[0]


def private_mib() -> float:
    """This process's own memory (``Private_Clean`` + ``Private_Dirty`` of
    ``/proc/self/smaps_rollup``, MiB): what it does not share with the
    process it was forked from. 0 where there is no such file."""
    kib = 0
    try:
        with open("/proc/self/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    kib += int(line.split()[1])
    except (OSError, ValueError):
        return 0.0
    return kib / 1024


def name_process(name: str) -> None:
    """The process's name in ``ps``, ``top`` and ``/proc/PID/comm`` (Linux,
    15 bytes): the node's processes say which they are (bench/load.py
    --node-pss reads it). Nothing elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def die_with_parent() -> None:
    """Make every process forked from now on get SIGTERM when its parent
    dies (Linux). django-q2's sentinel and workers would otherwise outlive a
    main process killed with ``kill -9`` and keep running without a lease."""
    if not sys.platform.startswith("linux"):
        return

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return

    def _in_child() -> None:
        parent = os.getppid()
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)

    os.register_at_fork(after_in_child=_in_child)


def lease_state(node: str | None = None) -> Node | None:
    """A node's row (default: this process's node, ``BANGUI_NODE``), whose
    lease /health/ready and /metrics report; None if its cluster never
    started."""
    return Node.objects.filter(pk=node or settings.BANGUI_NODE).first()
