"""The allow-list: addresses, networks and host names fail2ban must never
ban, each with who added it, why, and until when; and, per node, which
ignore-list values BanGUI put there (so it removes only its own).
docs/allowlist.md has the decisions."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jails.fail2ban import InvalidInput, validation
from nodes import nodename
from nodes.models import Node

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def canonical(value: str) -> str:
    """An allow-list value as fail2ban lists it in ``get JAIL ignoreip``: an
    address, a network with its host bits cleared (a /32 or /128 is its
    address), a host name lower-cased. Raises InvalidInput."""
    text = validation.ignore_value(value)
    if "/" in text:
        network = ipaddress.ip_network(text, strict=False)
        return str(network.network_address if network.prefixlen == network.max_prefixlen
                   else network)
    return text


def listed(value: str) -> str:
    """One value of a live ignore list, comparable with :func:`canonical`
    (what fail2ban lists that BanGUI cannot read stays as it is)."""
    try:
        return canonical(value)
    except InvalidInput:
        return str(value)


class AllowEntryQuerySet(models.QuerySet):
    def active(self, now: datetime | None = None) -> AllowEntryQuerySet:
        """Entries not expired at ``now``."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now()))


class AllowEntry(models.Model):
    """One allow-list entry: ``value`` (an address, a CIDR network or a host
    name, canonical as :func:`canonical`) is put in the ignore lists of the
    jails its scope names: every jail or ``jail``, on every node, the nodes
    labelled ``label``, or ``node``. ``expires_at`` (optional) ends it."""

    value = models.CharField(max_length=253)
    note = models.CharField(max_length=500, blank=True, default="")
    added_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    jail = models.CharField(max_length=64, blank=True, default="",
                            help_text="Empty: every jail.")
    node = models.CharField(max_length=63, blank=True, default="",
                            help_text="Empty (and no label): every node.")
    label = models.CharField(max_length=63, blank=True, default="",
                             help_text="Every node carrying this label.")

    objects = AllowEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(
            condition=Q(node="") | Q(label=""), name="allowlist_node_or_label")]

    def __str__(self) -> str:
        return f"{self.value} ({self.scope})"

    @property
    def scope(self) -> str:
        """Where it applies, in words."""
        jails = f"jail {self.jail}" if self.jail else "every jail"
        if self.node:
            return f"{jails} on node {self.node}"
        if self.label:
            return f"{jails} on nodes labelled {self.label}"
        return f"{jails} on every node"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def applies_to(self, node: str, labels: Iterable[str], jail: str | None = None) -> bool:
        """Whether it belongs in ``jail``'s ignore list on ``node`` (carrying
        ``labels``); any jail when ``jail`` is None."""
        if self.node and self.node != node:
            return False
        if self.label and self.label not in labels:
            return False
        return not (jail is not None and self.jail and self.jail != jail)

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        """Its network (an address: its /32 or /128); None for a host name."""
        try:
            return ipaddress.ip_network(self.value, strict=False)
        except ValueError:
            return None

    def covers(self, target: str) -> bool:
        """Whether the address or network ``target`` lies in (or overlaps)
        it. Host names are not resolved here (a page never waits on DNS)."""
        mine = self.network()
        try:
            other = ipaddress.ip_network(str(target), strict=False)
        except ValueError:
            return False
        return mine is not None and mine.version == other.version and mine.overlaps(other)

    def clean_fields(self, exclude=None) -> None:
        super().clean_fields(exclude)
        try:
            self.value = canonical(self.value)
            if self.jail:
                validation.jail_name(self.jail)
            if self.node:
                self.node = nodename.clean(self.node)
        except (InvalidInput, nodename.BadNodeName) as exc:
            raise ValidationError(str(exc)) from None
        if self.label and not _LABEL.fullmatch(self.label):
            raise ValidationError(f"{self.label[:70]!r} is not a label (letters, digits, "
                                  "'.', '_', '-')")
        if self.node and self.label:
            raise ValidationError("a node or a label, not both")


class Applied(models.Model):
    """A value BanGUI put in ``jail``'s ignore list on ``node``: the node's
    sync removes it once no entry wants it there. A value already in the
    list (the admin's ``ignoreip``) gets no row and is never removed."""

    node = models.CharField(max_length=63)
    jail = models.CharField(max_length=64)
    value = models.CharField(max_length=253)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "jail", "value"],
                                               name="allowlist_applied_once")]

    def __str__(self) -> str:
        return f"{self.value} in {self.jail} on {self.node}"


def node_labels(node: str) -> list[str]:
    labels = Node.objects.filter(pk=node).values_list("labels", flat=True).first()
    return list(labels or [])


def protecting(target: str, node: str | None = None, jail: str | None = None,
               now: datetime | None = None) -> list[AllowEntry]:
    """The active entries that hold ``target`` (an address or network);
    only those that apply to ``node``/``jail`` when given."""
    labels = node_labels(node) if node else []
    return [e for e in AllowEntry.objects.active(now)
            if e.covers(target) and (node is None or e.applies_to(node, labels, jail))]


def _described(entry: AllowEntry) -> str:
    return (f"{entry.value}, {entry.scope}, added by {entry.added_by} on "
            f"{entry.created_at:%Y-%m-%d}" + (f": {entry.note}" if entry.note else ""))


def address_notes(target: str) -> list[str]:
    """What the IP page says of ``target`` (an address or network): the
    active entries that protect it, one line each (the ``address_notes``
    hook: jails never imports allowlist)."""
    return [f"Allow-listed ({_described(e)})" for e in protecting(target)]


def ban_reasons(jail: str, ips: Iterable[str], node: str | None = None) -> list[str]:
    """Why banning ``ips`` in ``jail`` (on ``node``, default this host's)
    deserves a second thought: the allow-list entries that hold them, and
    who added them (jails.live.actions.ban_warnings asks this hook)."""
    node = node or settings.BANGUI_NODE
    reasons = []
    for ip in ips:
        for entry in protecting(ip, node, jail):
            reasons.append(f"{ip} is allow-listed ({_described(entry)})")
    return reasons
