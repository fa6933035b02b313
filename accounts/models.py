"""Accounts state: who may do what, BanGUI's runtime settings, whether setup
ran, and the audit trail of every state-changing action."""

from __future__ import annotations

import contextvars
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import DatabaseError, models
from django.utils import timezone

SINGLETON_PK = 1


def validate_time_zone(value: str) -> None:
    if not value:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin).") from None


class Capability(models.Model):
    """Holder of BanGUI's global permissions; it has no table.

    Roles are groups holding these permissions: ``support`` gets
    ``accounts.ban``; ``operator`` gets ``accounts.ban`` and ``accounts.operate``;
    ``viewer`` gets nothing (reading needs only a login); admins are
    superusers. ``accounts.roles`` says what each role may do.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("ban", "Can ban and unban addresses"),
            ("operate", "Can ban/unban, control jails, edit config and blocklists"),
            ("manage_settings", "Can change BanGUI runtime settings"),
        ]

    def __str__(self) -> str:
        return "BanGUI capability"


class SetupCompletion(models.Model):
    """One row, inserted once, when the first admin was created.

    The row's existence *is* "setup is complete": its primary key is pinned
    to 1, so a second (replayed or concurrent) completion fails on the
    primary key inside the same transaction that would create the admin.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK)
    completed_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=32, help_text="wizard, command or test")
    admin = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=SINGLETON_PK), name="setup_singleton"),
        ]

    def __str__(self) -> str:
        return f"setup completed {self.completed_at:%Y-%m-%d %H:%M} UTC ({self.method})"


# The runtime settings the current request read (RuntimeSettings.current).
request_runtime: contextvars.ContextVar[RuntimeSettings | None] = contextvars.ContextVar(
    "bangui_runtime_settings", default=None)


class RuntimeSettings(models.Model):
    """Settings an admin changes at run time (one row, pk 1).

    Every worker reads the row by primary key when it needs it (once per
    request in :class:`accounts.middleware.TimezoneMiddleware`), so a change
    applies everywhere on the next request without a restart. A blank value
    falls back to the matching environment setting.

    To add a knob: add a field with a default here, a migration, and its
    name to ``RuntimeSettingsForm.Meta.fields``.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK)
    fail2ban_socket = models.CharField(
        "fail2ban socket path", max_length=500, blank=True,
        help_text="Unix socket of fail2ban-server, e.g. /var/run/fail2ban/fail2ban.sock",
    )
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone],
        help_text="IANA name; times are stored in UTC and shown in this zone.",
    )
    session_hours = models.PositiveIntegerField(
        "session lifetime (hours)", null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 90)],
        help_text="How long a login stays valid.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = verbose_name_plural = "runtime settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=SINGLETON_PK),
                                   name="runtime_settings_singleton"),
        ]

    def __str__(self) -> str:
        return "BanGUI runtime settings"

    @classmethod
    def current(cls) -> RuntimeSettings:
        """The row this request read at its start (TimezoneMiddleware), or
        a fresh :meth:`load` outside a request: one read a request, not one
        per reader (the socket path, the zone). A change saved during the
        request applies from the next one, as for every worker."""
        return request_runtime.get() or cls.load()

    @classmethod
    def load(cls) -> RuntimeSettings:
        """The stored row, or an unsaved one holding the defaults. Never
        writes; a database without the table (before ``migrate``) gives the
        defaults too."""
        try:
            row = cls.objects.filter(pk=SINGLETON_PK).first()
        except DatabaseError:
            row = None
        return row or cls(pk=SINGLETON_PK)

    @property
    def socket_path(self) -> str:
        return self.fail2ban_socket or settings.FAIL2BAN_SOCKET

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.time_zone or settings.TIME_ZONE)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    @property
    def session_age(self) -> timedelta:
        if self.session_hours:
            return timedelta(hours=self.session_hours)
        return timedelta(seconds=settings.SESSION_COOKIE_AGE)


class AuditEntry(models.Model):
    """Who did what, when, from where, and whether it worked."""

    class Result(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"
        # Sent to a fleet node's queue, no answer yet: settled by the node
        # when it answers, by whoever reads the answer first, or, when the
        # node never took it, by the tick's sweep after the deadline
        # (jails/fleet/dispatch.py; docs/fleet.md).
        PENDING = "pending", "pending"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="audit_entries")
    # Kept as text too: the trail must survive the user's deletion, and
    # non-users act as well ("system", "cli:root", "anonymous").
    actor_name = models.CharField(max_length=150)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True)
    result = models.CharField(max_length=8, choices=Result.choices, default=Result.OK)
    detail = models.TextField(blank=True)
    # The fleet node whose fail2ban the action was for ("" for actions on
    # BanGUI itself: logins, settings). docs/fleet.md.
    node = models.CharField(max_length=63, blank=True, default="")
    # The rows of one command sent to several nodes share it (the task group
    # of jails/fleet/dispatch.py); "" for everything else.
    ref = models.CharField(max_length=32, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["actor_name", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["action", "-created_at"], name="audit_action_time"),
            # The sweep of unanswered commands reads only these few rows.
            models.Index(fields=["created_at"], condition=models.Q(result="pending"),
                         name="audit_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.result}"
