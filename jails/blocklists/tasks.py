"""django-q2 task bodies for blocklists (run in the single worker)."""

from __future__ import annotations

import logging

from jails.blocklists.importer import AlreadyRunning, run_import
from jails.blocklists.models import BlocklistSource

log = logging.getLogger(__name__)


def import_source(source_pk: int, actor: str = "schedule") -> str:
    source = BlocklistSource.objects.filter(pk=source_pk, enabled=True).first()
    if source is None:
        return "skipped: source gone or disabled"
    try:
        run = run_import(source, actor=actor)
    except AlreadyRunning as exc:
        return f"skipped: {exc}"
    log.info("blocklist %s: %s, %d new bans, %d invalid lines", source.name, run.status,
             run.newly_banned, run.invalid)
    return f"{run.status}: {run.newly_banned} new bans"
