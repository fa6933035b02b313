"""django-q2 task bodies for blocklists (run by each target node's worker)."""

from __future__ import annotations

import logging

from django.conf import settings

from blocklists import schedules
from blocklists.importer import AlreadyRunning, run_import
from blocklists.models import BlocklistSource

log = logging.getLogger(__name__)


def import_source(source_pk: int, actor: str = "schedule") -> str:
    """Import one source on this node (its schedule or "Import now" queued
    it to this node's cluster), unless it no longer targets this node."""
    source = BlocklistSource.objects.filter(pk=source_pk, enabled=True).first()
    if source is None:
        return "skipped: source gone or disabled"
    if settings.BANGUI_NODE not in schedules.targets(source):
        return f"skipped: {source.name} is no longer imported on node {settings.BANGUI_NODE}"
    try:
        run = run_import(source, actor=actor)
    except AlreadyRunning as exc:
        return f"skipped: {exc}"
    log.info("blocklist %s: %s, %d new bans, %d invalid lines", source.name, run.status,
             run.newly_banned, run.invalid)
    return f"{run.status}: {run.newly_banned} new bans"


def import_due() -> str:
    """The ``blocklist-imports`` schedule (every minute, each node's main
    lane): import, one after the other, the sources due on this node
    (blocklists.schedules.due). Each run has its own claim, log row
    and deadlines; one failing does not stop the next."""
    done = [f"{source.name}: {import_source(source.pk)}" for source in schedules.due()]
    return "; ".join(done) or "nothing due"
