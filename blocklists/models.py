"""Blocklist sources, their claims and their import runs.

The tables keep the names they had when these models lived in the jails app
(``jails_blocklistsource`` …): the move to this app changed no data
(migrations jails 0014, blocklists 0001)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from jails.constants import BLOCKLIST_JAIL


class BlocklistSource(models.Model):
    """A URL with one IP (or small network) per line, imported on a schedule
    into a jail (``blocklist-import`` unless chosen otherwise). Bans last the
    target jail's ``bantime``: fail2ban's ``banip`` takes no per-IP time."""

    class Every(models.IntegerChoices):
        HOURLY = 60, "hourly"
        SIX_HOURS = 360, "every 6 hours"
        DAILY = 1440, "daily"
        WEEKLY = 10080, "weekly"

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, unique=True)
    enabled = models.BooleanField(default=True)
    interval_minutes = models.PositiveIntegerField(
        default=Every.DAILY, help_text="How often the list is imported.")
    jail = models.CharField(max_length=64, default=BLOCKLIST_JAIL)
    # Where it is imported (docs/fleet.md): every node when both are empty;
    # else the nodes carrying ``target_label``, else the named nodes.
    target_label = models.CharField(max_length=63, blank=True, default="")
    target_nodes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "jails_blocklistsource"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def schedule_text(self) -> str:
        """How often, in words (the field keeps minutes without choices, so
        an interval set by hand or by an older version still reads)."""
        try:
            return self.Every(self.interval_minutes).label
        except ValueError:
            return f"every {self.interval_minutes} minutes"

    @property
    def targets_text(self) -> str:
        """Where it is imported, in words."""
        if self.target_label:
            return f"nodes labelled {self.target_label}"
        if self.target_nodes:
            return ", ".join(self.target_nodes)
        return "every node"


class BlocklistClaim(models.Model):
    """"Two runs of one source never overlap" on one node: set by a
    conditional UPDATE, cleared when the run ends; a claim older than the
    task timeout is stale. Each target node imports on its own, so each has
    its own claim."""

    source = models.ForeignKey(BlocklistSource, on_delete=models.CASCADE, related_name="claims")
    node = models.CharField(max_length=63)
    running_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jails_blocklistclaim"
        constraints = [models.UniqueConstraint(fields=["source", "node"],
                                               name="blocklistclaim_source_node")]

    def __str__(self) -> str:
        return f"{self.source} on {self.node}"


class ImportRun(models.Model):
    """One import of one source: what was downloaded, parsed and banned."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "ok"
        FAILED = "failed", "failed"
        PREVIEW = "preview", "preview"

    source = models.ForeignKey(BlocklistSource, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True, default="")
    final_url = models.CharField(max_length=500, blank=True, default="")
    downloaded_bytes = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    valid = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    skipped_networks = models.PositiveIntegerField(default=0)
    newly_banned = models.PositiveIntegerField(default=0)
    already_banned = models.PositiveIntegerField(default=0)
    invalid_samples = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    # "host:pid" of the process running the import: a run whose process is
    # gone is closed as failed (blocklists.importer.close_orphaned_runs).
    runner = models.CharField(max_length=200, blank=True, default="", editable=False)
    node = models.CharField(max_length=63, blank=True, default="",
                            help_text="The fleet node whose worker ran it.")

    class Meta:
        db_table = "jails_importrun"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["source", "-started_at"], name="importrun_source_time")]

    def __str__(self) -> str:
        return f"{self.source} at {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
