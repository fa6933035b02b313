from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class NodeQuerySet(models.QuerySet):
    def up(self, now: datetime | None = None) -> NodeQuerySet:
        """The nodes whose lease is fresh (see :meth:`Node.is_up`)."""
        return self.filter(expires_at__gt=now or timezone.now()).exclude(holder="")


class Node(models.Model):
    """A host running fail2ban plus one BanGUI task cluster (docs/fleet.md).

    The row is the node's registration, its worker lease and what its worker
    publishes about its fail2ban. The lease (``nodes/worker.py``): a cluster
    claims the row for its node name at start with a conditional UPDATE (only
    when it is free or expired) or, the first time, an INSERT; it renews
    ``expires_at`` from a heartbeat and empties ``holder`` on a clean
    shutdown. So one cluster per node name, and clusters of different nodes
    side by side. ``heartbeat_at`` is what ``/health/ready``, ``/nodes/`` and
    ``manage.py nodes`` report; the facts are refreshed with it.

    The table keeps the name it had in the bangui app (``bangui_node``).
    The pages and ``manage.py nodes`` read the rows themselves: a down node
    is "stale since" its last heartbeat, and what it last said about its
    fail2ban is history, not state (:meth:`fail2ban_answers`).
    """

    name = models.CharField(primary_key=True, max_length=63)
    labels = models.JSONField(default=list, blank=True,
                              help_text="Group names for fleet-wide actions, e.g. [\"web\"].")
    holder = models.CharField(max_length=200, blank=True, default="",
                              help_text="hostname:pid:random of the cluster holding the lease; "
                                        "empty when released.")
    acquired_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What the worker last saw of its fail2ban (refreshed with the heartbeat).
    fail2ban_up = models.BooleanField(default=False)
    fail2ban_version = models.CharField(max_length=40, blank=True, default="")
    jails = models.JSONField(default=list, blank=True)
    # Per jail: {"banned": .., "failed": .., "total_banned": .., "total_failed": ..}
    jail_counts = models.JSONField(default=dict, blank=True)
    # Per running jail: {"bantime", "findtime", "maxretry", "backend", "log_paths",
    # "ignore_ips", "ignore_self"}
    jail_settings = models.JSONField(default=dict, blank=True)
    # Per jail its config defines, running or not: what the jail page shows of
    # it and offers to change (enable, disable, settings).
    configured_jails = models.JSONField(default=dict, blank=True)
    # fail2ban's server settings: {"loglevel", "logtarget", "dbfile", "dbpurgeage"}
    server_settings = models.JSONField(default=dict, blank=True)
    filters = models.JSONField(default=list, blank=True)  # filter.d names (the regex tester)
    archive_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When this node's fail2ban database was last synced "
                                         "into the archive.")
    facts_at = models.DateTimeField(null=True, blank=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        db_table = "bangui_node"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_up(self, now: datetime | None = None) -> bool:
        """Up while its lease is held and not expired: its cluster renews it
        every few seconds, so a dead one is down within a lease time. The
        one definition of "a node is up" (:meth:`NodeQuerySet.up` in SQL)."""
        return (bool(self.holder) and self.expires_at is not None
                and self.expires_at > (now or timezone.now()))

    def heartbeat_age(self, now: datetime | None = None) -> float | None:
        """Seconds since its cluster last renewed the lease (None: never)."""
        if self.heartbeat_at is None:
            return None
        return max(((now or timezone.now()) - self.heartbeat_at).total_seconds(), 0.0)

    def fail2ban_answers(self, now: datetime | None = None) -> bool:
        """Its fail2ban answered its worker's last look, and the node is up
        (a down node's last word on its fail2ban is history)."""
        return self.fail2ban_up and self.is_up(now)

    def banned(self, now: datetime | None = None) -> int | None:
        """Bans its fail2ban holds now, as last published (None: not answering)."""
        if not self.fail2ban_answers(now):
            return None
        return sum(c.get("banned", 0) for c in self.jail_counts.values())

    def archive_lag(self, now: datetime | None = None) -> float | None:
        """Seconds since its fail2ban database was last synced into the archive."""
        if self.archive_synced_at is None:
            return None
        return max(((now or timezone.now()) - self.archive_synced_at).total_seconds(), 0.0)

    @property
    def is_local(self) -> bool:
        """This process's node (``BANGUI_NODE``)."""
        return self.name == settings.BANGUI_NODE
