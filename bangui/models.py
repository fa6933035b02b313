from __future__ import annotations

from django.db import models

LEASE_PK = 1


class WorkerLease(models.Model):
    """The one row that says which task cluster may run (``bangui/worker.py``).

    A cluster claims it at start with a conditional UPDATE (only when it is
    free or expired) or, the first time, an INSERT of the fixed primary key;
    it renews ``expires_at`` from a heartbeat and empties ``holder`` on a
    clean shutdown. ``heartbeat_at`` is what ``/health/ready`` reports.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=LEASE_PK)
    holder = models.CharField(max_length=200, blank=True, default="",
                              help_text="hostname:pid:random of the cluster holding it; "
                                        "empty when released.")
    acquired_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=LEASE_PK),
                                              name="worker_lease_singleton")]

    def __str__(self) -> str:
        return f"{self.holder or 'free'} until {self.expires_at}"
