"""Channels (where messages go), rules (when), notifications (what was said)
and deliveries (what each channel made of it). docs/notifications.md."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone

from notifications import crypto


class Channel(models.Model):
    """Somewhere messages are sent: an apprise URL, or BanGUI's own signed
    webhook (``bangui+https://…``). The URL is stored encrypted
    (:mod:`notifications.crypto`) and never shown back; pages show its
    scheme only."""

    name = models.CharField(max_length=100, unique=True)
    url_encrypted = models.TextField(editable=False)
    scheme = models.CharField(max_length=40, editable=False,
                              help_text="The URL's scheme, the one part of it pages show.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return crypto.decrypt(self.url_encrypted)

    def set_url(self, url: str) -> None:
        self.url_encrypted = crypto.encrypt(url)
        self.scheme = urlsplit(url).scheme.lower()[:40]


class Severity(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"


class Rule(models.Model):
    """When to send: one kind of condition, over one node or the fleet.

    The evaluation (:mod:`notifications.evaluate`) keeps its memory in
    ``state``: the cursor of the last look, when each topic was last sent,
    what the quiet period held back, each node's last known state."""

    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "more than N bans in a window"
        SPIKE = "spike", "bans above X% of the previous window"
        WATCHED = "watched", "a watched address, network, country or ASN banned"
        NODE_DOWN = "node_down", "a node or its fail2ban down, and back up"
        IMPORT_FAILED = "import_failed", "a blocklist import failed"
        CONFIG_ROLLED_BACK = "config_rolled_back", "a config change rolled back"
        CONFIG_REFUSED = "config_refused", "a config change refused"
        LOGINS_LOCKED_OUT = "logins_locked_out", "logins locked out"
        ARCHIVE_BEHIND = "archive_behind", "the archive behind by more than N minutes"
        DIGEST = "digest", "a daily or weekly digest"

    class Period(models.TextChoices):
        DAILY = "daily", "daily"
        WEEKLY = "weekly", "weekly (Monday to Sunday)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    node = models.CharField(max_length=63, blank=True, default="",
                            help_text="Empty: the whole fleet.")
    threshold = models.PositiveIntegerField(
        default=10, help_text="Threshold: more than this many bans. Spike: at least this many.")
    percent = models.PositiveIntegerField(
        default=200, help_text="Spike: bans above this percentage of the previous window.")
    window_minutes = models.PositiveIntegerField(
        default=10, help_text="Threshold and spike: the window. Archive behind: N minutes.")
    watched = models.TextField(
        blank=True, default="",
        help_text="Watched: one a line, an address or network (203.0.113.0/24), a country "
                  "code (CN) or an ASN (AS64500); # starts a comment.")
    period = models.CharField(max_length=6, choices=Period.choices, default=Period.DAILY,
                              help_text="Digest: the period summed up, sent once it is over.")
    severity = models.CharField(max_length=10, choices=Severity.choices,
                                default=Severity.WARNING)
    quiet_minutes = models.PositiveIntegerField(
        default=30, help_text="After a message, further triggers wait this long and are "
                              "counted into the next one.")
    channels = models.ManyToManyField(Channel, related_name="rules", blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    state = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def scope(self) -> str:
        return f"node {self.node}" if self.node else "fleet-wide"


class Notification(models.Model):
    """One message a rule (or a channel's test) produced, as it was worded."""

    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="notifications")
    rule_name = models.CharField(max_length=100, blank=True, default="")
    kind = models.CharField(max_length=20, blank=True, default="")  # "" for a test
    severity = models.CharField(max_length=10, choices=Severity.choices,
                                default=Severity.INFO)
    title = models.CharField(max_length=200)
    text = models.TextField()
    # Triggers the quiet period held back before this one, counted into it.
    suppressed = models.PositiveIntegerField(default=0)
    facts = models.JSONField(default=dict, blank=True)  # the figures, for the webhook
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read = models.BooleanField(default=False)
    # A digest's period ("daily:2026-12-05"): unique per rule, so the row
    # itself is the claim and a second worker's insert fails instead of
    # sending the digest twice. Empty for every other message.
    claim = models.CharField(max_length=40, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "claim"],
                                               condition=~models.Q(claim=""),
                                               name="notification_claim_once")]

    def __str__(self) -> str:
        return self.title


class Delivery(models.Model):
    """What one channel made of one notification."""

    class Result(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"
        SKIPPED_QUIET = "skipped_quiet", "skipped (quiet period)"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE,
                                     related_name="deliveries")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="deliveries")
    channel_name = models.CharField(max_length=100)
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.PENDING)
    detail = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["channel_name", "id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["result"], condition=models.Q(result="pending"),
                                name="delivery_pending")]

    def __str__(self) -> str:
        return f"{self.channel_name}: {self.result}"
