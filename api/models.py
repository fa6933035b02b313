"""API tokens: what a script uses in place of a session (docs/api.md)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token of one user, for scripts (``Authorization: Bearer``).

    Only the SHA-256 of the token is stored (``digest``); the token itself
    is shown once, when it is made (:func:`api.tokens.issue`). ``prefix``
    is the token's public part, to find its row (the digest is then
    compared). A token never does more than its owner may (their role is
    read on every request), and ``scope`` may do less: ``read`` never
    changes anything. ``allowed_networks`` (CIDR strings; empty: any
    address) limits where it may be used from.
    """

    class Scope(models.TextChoices):
        READ = "read", "read-only"
        WRITE = "write", "read-write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the token, hex.")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    allowed_networks = models.JSONField(default=list, blank=True,
                                        help_text="CIDR networks it may be used from; "
                                                  "empty: any.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"token #{self.pk} {self.prefix} of {self.user}"

    def state(self, now=None) -> str:
        """"active", "revoked" or "expired"."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def allows_from(self, ip: str | None) -> bool:
        """Whether a request from ``ip`` may use this token."""
        if not self.allowed_networks:
            return True
        if not ip:
            return False
        address = ipaddress.ip_address(ip)
        return any(address in ipaddress.ip_network(net, strict=False)
                   for net in self.allowed_networks
                   if ipaddress.ip_network(net, strict=False).version == address.version)


class IdempotentRequest(models.Model):
    """A write sent with an ``Idempotency-Key`` header, and its answer: the
    same key from the same user within ``api.idempotency.KEEP`` gets the
    stored answer again instead of a second command. ``status`` is NULL
    while the first request is still being answered."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path, body.")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"],
                                               name="api_idempotency_user_key")]

    def __str__(self) -> str:
        return f"{self.key} of {self.user}"
