"""django-q2 task bodies for the ban archive (declared in bangui/schedules.py).
Thin: the work is in :mod:`jails.archive.sync`; the return value is what
django-q2 stores as the task result."""

from __future__ import annotations

import logging

from django.db import DatabaseError

from accounts.audit import settle_unanswered
from jails.archive import sync as archive
from jails.fail2ban import Fail2banError
from jails.fleet import live, shared

# The tick shares the node's command lane with the commands: a long history
# (a node joining with months of bans) arrives over several ticks, each a
# few seconds at most, so a ban waits at most that long behind one.
TICK_MAX_ROWS = 20_000
logger = logging.getLogger(__name__)


def sync_archive() -> str:
    """The scheduled sync (on the command lane, like the tick): bounded the
    same way; a long history goes on at the next tick. fail2ban down or
    hung is a state, not a task failure (the status bar and /health say
    it), and so is an archive that cannot sync now: the result says it in
    words, and the cursor waits."""
    try:
        return str(archive.sync(max_rows=TICK_MAX_ROWS))
    except Fail2banError as exc:
        return f"not synced: {exc}"
    except archive.ArchiveError as exc:
        # No ban database (fail2ban restarting answers "dbfile None" until
        # its config is read: the soak met it), an unreadable file, a sync
        # already running: said in the log and by the archive's lag on
        # /nodes/ and /health, not a failed task with a traceback.
        logger.warning("archive not synced: %s", exc)
        return f"not synced: {exc}"


def _sync_some() -> None:
    archive.sync(max_rows=TICK_MAX_ROWS)


def _settle_unanswered() -> None:
    try:
        settle_unanswered()
    except DatabaseError as exc:
        # A node under its own database role may not write the audit trail:
        # the web settles those rows (the poll, the audit page).
        if "permission denied" not in str(exc):
            raise


def node_tick() -> None:
    """Every few seconds on each node (nodes/worker.py): copy fail2ban's new
    bans into the archive, so the dashboard shows a node's bans seconds
    after fail2ban made them. Cheap when nothing is new (one read of the
    cursor row); the scheduled sync stays as the fallback and the one that
    records errors. Then the bans other nodes share with this one
    (jails/fleet/shared.py; nothing to do without rules), then this node's
    live bans for the other nodes' pages (jails/fleet/live.py; one
    fingerprint query when nothing changed), then the audit rows of commands
    no node took (accounts.audit.settle_unanswered; one indexed query). One step failing does not
    skip the others; the first failure is raised at the end."""
    failed = None
    for step in (_sync_some, shared.apply, live.publish, _settle_unanswered):
        try:
            step()
        except Exception as exc:  # each step on its own; the first failure raised below
            failed = failed or exc
    if failed is not None:
        raise failed


def fill_countries() -> str:
    return f"{archive.fill_missing_countries()} archived bans got a country"


def purge_archive(retention_days: int | None = None) -> str:
    return f"purged {archive.purge(retention_days)} archived bans"
