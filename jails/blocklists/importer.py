"""Run one blocklist import: claim, download, parse, ban in batches, log.

A failed run (network, garbage, fail2ban down) bans nothing more, leaves
earlier bans and the source as they were, and its ImportRun says why.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jails import link
from jails.blocklists.download import DownloadError, DownloadPolicy, fetch
from jails.blocklists.models import BlocklistSource, ImportRun
from jails.blocklists.parse import GarbageList, ParseResult, parse
from jails.fail2ban import Fail2banClient, Fail2banError

# fail2ban takes many IPs per banip; 5,000 keeps one reply well under the
# client's read limit and one call under a second on an action-less jail.
BAN_BATCH = 5000
# A claim older than this belongs to a run that died (worker killed).
STALE_CLAIM = timedelta(seconds=900)


class AlreadyRunning(Exception):
    pass


def policy() -> DownloadPolicy:
    return DownloadPolicy(
        timeout=settings.BLOCKLIST_TIMEOUT,
        max_bytes=settings.BLOCKLIST_MAX_BYTES,
        allow_private=settings.BLOCKLIST_ALLOW_PRIVATE,
    )


def claim(source: BlocklistSource) -> bool:
    """Claim-then-act: only one run per source at a time, across processes."""
    now = timezone.now()
    return bool(
        BlocklistSource.objects.filter(pk=source.pk)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - STALE_CLAIM))
        .update(running_since=now)
    )


def release(source: BlocklistSource) -> None:
    BlocklistSource.objects.filter(pk=source.pk).update(running_since=None)


def download_and_parse(source: BlocklistSource, run: ImportRun) -> ParseResult:
    started = time.perf_counter()
    download = fetch(source.url, policy())
    run.final_url = download.url
    run.downloaded_bytes = len(download.body)
    run.attempts = download.attempts
    run.timings["download"] = round(time.perf_counter() - started, 4)
    started = time.perf_counter()
    parsed = parse(download.body, cidr_limit=settings.BLOCKLIST_CIDR_LIMIT)
    run.timings["parse"] = round(time.perf_counter() - started, 4)
    run.valid, run.invalid = parsed.valid, parsed.invalid
    run.duplicates, run.skipped_networks = parsed.duplicates, parsed.skipped_networks
    run.invalid_samples = parsed.invalid_samples
    return parsed


def ban_all(client: Fail2banClient, jail: str, ips: list[str]) -> int:
    newly = 0
    for start in range(0, len(ips), BAN_BATCH):
        newly += client.ban(jail, ips[start:start + BAN_BATCH])
    return newly


def run_import(source: BlocklistSource, *, actor: str = "system",
               client: Fail2banClient | None = None) -> ImportRun:
    """Import ``source`` now. Raises AlreadyRunning if another run holds it."""
    if not claim(source):
        raise AlreadyRunning(f"an import of {source.name} is already running")
    run = ImportRun.objects.create(source=source, actor=actor)
    total = time.perf_counter()
    try:
        parsed = download_and_parse(source, run)
        # fail2ban runs one action per banned IP (~5 ms each) before it answers
        # a banip: a 5,000-IP batch can take half a minute.
        client = client or link.client(timeout=settings.BLOCKLIST_BAN_TIMEOUT)
        started = time.perf_counter()
        run.newly_banned = ban_all(client, source.jail, parsed.ips)
        run.already_banned = len(parsed.ips) - run.newly_banned
        run.timings["ban"] = round(time.perf_counter() - started, 4)
        started = time.perf_counter()
        _archive_now(source.jail, run.started_at, run.newly_banned)
        run.timings["archive"] = round(time.perf_counter() - started, 4)
        run.status = ImportRun.Status.OK
    except (DownloadError, GarbageList, Fail2banError) as exc:
        run.status = ImportRun.Status.FAILED
        run.error = str(exc)
    finally:
        run.timings["total"] = round(time.perf_counter() - total, 4)
        run.finished_at = timezone.now()
        if run.status == ImportRun.Status.RUNNING:  # an unexpected exception
            run.status = ImportRun.Status.FAILED
            run.error = run.error or "the import stopped unexpectedly; see the worker log"
        run.save()
        release(source)
    return run


def preview(source_url: str, *, limit: int = 20) -> tuple[ParseResult, int]:
    """Download and parse without banning: (parse result, bytes downloaded)."""
    download = fetch(source_url, policy())
    parsed = parse(download.body, cidr_limit=settings.BLOCKLIST_CIDR_LIMIT)
    return parsed, len(download.body)


def _archive_now(jail: str, since, expected: int, wait: float = 5.0) -> None:
    """Copy the new bans into the archive (origin "blocklist" by jail) now,
    rather than on the next scheduled sync, so the dashboard shows them.
    fail2ban may write a ban to its database a moment after ``banip``
    answers, so sync again briefly until this run's bans are there; whatever
    is still missing arrives with the next scheduled sync."""
    from jails import archive
    from jails.models import BanEvent

    # fail2ban stores whole seconds; a ban of this run starts at or after it.
    since = since.replace(microsecond=0)
    deadline = time.monotonic() + wait
    while True:
        archive.sync()
        archived = BanEvent.objects.filter(jail=jail, banned_at__gte=since).count()
        if archived >= expected or time.monotonic() >= deadline:
            return
        time.sleep(0.25)
