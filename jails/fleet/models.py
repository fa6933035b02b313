"""Shared-ban rules (docs/fleet.md, "Shared bans")."""

from __future__ import annotations

from django.db import models


class SharedBanRule(models.Model):
    """"A ban in ``jail`` on any node labelled ``source_label`` is applied
    on every node labelled ``target_label``" (blank label: every node).
    Carried out by each target node's worker (jails/fleet/shared.py) into
    its ``shared-bans`` jail; a shared ban is never shared again."""

    name = models.CharField(max_length=100, unique=True)
    jail = models.CharField(max_length=64, help_text="The jail whose bans are shared.")
    source_label = models.CharField(
        max_length=63, blank=True, help_text="Share bans of nodes with this label (blank: any).")
    target_label = models.CharField(
        max_length=63, blank=True, help_text="Apply them on nodes with this label (blank: all).")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "jails"
        ordering = ["name"]

    def __str__(self) -> str:
        source = f"nodes labelled {self.source_label}" if self.source_label else "any node"
        target = f"nodes labelled {self.target_label}" if self.target_label else "every node"
        return f"{self.name}: {self.jail} bans on {source} -> {target}"


class SharedBanState(models.Model):
    """How far one node has looked through the archive for bans to share
    with it (rows archived up to ``checked_through``)."""

    node = models.CharField(max_length=63, primary_key=True)
    checked_through = models.DateTimeField()

    class Meta:
        app_label = "jails"

    def __str__(self) -> str:
        return f"{self.node}: checked through {self.checked_through}"


class LiveBan(models.Model):
    """One ban a node's fail2ban holds now, as that node's worker last
    published it (jails/fleet/live.py): what the pages of the whole fleet
    read for another node, since the web tier never asks a remote fail2ban."""

    node = models.CharField(max_length=63)
    jail = models.CharField(max_length=64)
    ip = models.CharField(max_length=45)
    banned_at = models.DateTimeField()
    bantime = models.IntegerField()  # seconds; negative: permanent
    ends_at = models.DateTimeField(null=True, blank=True)  # None: permanent
    bancount = models.IntegerField(default=1)

    class Meta:
        app_label = "jails"
        constraints = [models.UniqueConstraint(fields=["node", "jail", "ip"],
                                               name="liveban_node_jail_ip")]
        indexes = [models.Index(fields=["node", "ip"], name="liveban_node_ip"),
                   models.Index(fields=["node", "-banned_at"], name="liveban_node_newest")]

    def __str__(self) -> str:
        return f"{self.ip} in {self.jail} on {self.node}"

    @property
    def permanent(self) -> bool:
        return self.ends_at is None


class LiveBanState(models.Model):
    """Whether one node's published live bans can be trusted: ``known``
    False when its fail2ban did not answer or its ban database could not be
    read (``note`` says why); ``checked_at`` when its worker last compared
    them with fail2ban."""

    node = models.CharField(max_length=63, primary_key=True)
    checked_at = models.DateTimeField()
    known = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)
    # fail2ban's live-ban fingerprint the rows were last compared under
    # (jails.fail2ban.database.live_fingerprint): unchanged, nothing to read.
    fingerprint = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        app_label = "jails"

    def __str__(self) -> str:
        return f"{self.node}: live bans checked {self.checked_at}"
