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
