"""``manage.py qcluster``: django-q2's cluster, started only when it may be
the one BanGUI cluster.

Overrides django-q2's command (``bangui`` is listed before ``django_q`` in
INSTALLED_APPS). Before the cluster starts it refuses a configuration with
more than one worker (``bangui.checks``, also with ``--skip-checks``) and
claims the worker lease (``bangui.worker``); while the cluster runs a
heartbeat thread renews the lease; on shutdown the lease is released.
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

from bangui.checks import worker_errors
from bangui.worker import (
    Heartbeat,
    Lease,
    LeaseHeld,
    die_with_parent,
    holder_id,
    worker_started,
)

logger = logging.getLogger("bangui.worker")


class Command(QclusterCommand):
    help = "Start BanGUI's one django-q2 task cluster (one worker, under a database lease)."

    def handle(self, *args, **options):
        errors = worker_errors()
        if errors:
            raise CommandError("\n".join(f"{e.id}: {e.msg}\nHINT: {e.hint}" for e in errors))
        if options.get("cluster_name"):
            raise CommandError("BanGUI runs one cluster with one queue: --name is not supported.")
        settings.SECRET_KEY  # noqa: B018 (django-q2 signs with it; fail before starting)

        lease = Lease(holder_id(), settings.BANGUI_WORKER_LEASE_SECONDS)
        try:
            lease.acquire()
        except LeaseHeld as exc:
            raise CommandError(str(exc)) from None
        logger.info("worker lease acquired by %s (%d s, renewed every %d s)", lease.holder,
                    lease.seconds, max(lease.seconds // 3, 1))
        for receiver, error in worker_started.send_robust(sender=self.__class__):
            if error is not None:
                logger.error("worker start hook %r failed: %s", receiver, error)
        # The sentinel is forked next: it must not share this process's
        # database connection (closing it there would close it here).
        connections.close_all()
        die_with_parent()
        heartbeat = Heartbeat(lease)
        lost = False
        try:
            from django_q.cluster import Cluster

            cluster = Cluster()
            cluster.start()
            if options.get("run_once"):
                cluster.stop()
                return
            heartbeat.start()  # after the fork: no thread is copied into the sentinel
            stop_requested = threading.Event()
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop_requested.set())
            while cluster.sentinel.is_alive():
                if heartbeat.lost.is_set():
                    lost = True
                    logger.error("worker lease lost: stopping the cluster")
                    cluster.stop()
                    break
                if stop_requested.wait(0.5):
                    # A signal sent to the whole process group (systemd's
                    # default, `timeout`) also killed the sentinel; setting
                    # django-q2's stop event then would wait forever for it.
                    time.sleep(0.5)
                    if cluster.sentinel.is_alive():
                        cluster.stop()
                    break
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
