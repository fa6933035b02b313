"""Run one blocklist import: claim, download, parse, ban in batches while
archiving the batch before (``record``), log.

A failed run (network, garbage, fail2ban down) bans nothing more, leaves
earlier bans (and their archive rows) and the source as they were, and its
ImportRun says why.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jails.blocklists import record
from jails.blocklists.download import DownloadError, DownloadPolicy, fetch
from jails.blocklists.models import BlocklistSource, ImportRun
from jails.blocklists.parse import GarbageList, ParseResult, parse
from jails.fail2ban import Fail2banClient, Fail2banError, validation
from jails.live import link

log = logging.getLogger(__name__)

# fail2ban takes many IPs per banip; 5,000 keeps one reply well under the
# client's read limit and one call under a second on an action-less jail.
BAN_BATCH = 5000
# The last batch's archive rows are the only ones written after fail2ban's
# last answer (the others are written while it bans the next batch), so the
# last batch is kept small.
LAST_BATCH = 1000
# A claim older than this belongs to a run that died (worker killed).
STALE_CLAIM = timedelta(seconds=900)
PREVIEW_DEADLINE = 15.0  # s: a preview is a web request (gunicorn kills at 60)


class AlreadyRunning(Exception):
    pass


def policy() -> DownloadPolicy:
    """The scheduled import's: retries with backoff, within a deadline well
    below the task's timeout so the one worker is never held by one list."""
    return DownloadPolicy(
        timeout=settings.BLOCKLIST_TIMEOUT,
        max_bytes=settings.BLOCKLIST_MAX_BYTES,
        allow_private=settings.BLOCKLIST_ALLOW_PRIVATE,
        deadline=settings.BLOCKLIST_DEADLINE,
    )


def preview_policy() -> DownloadPolicy:
    """A preview answers a web request: one attempt, a short deadline (far
    below gunicorn's worker timeout), and the user reads why it failed."""
    return DownloadPolicy(
        timeout=min(settings.BLOCKLIST_TIMEOUT, PREVIEW_DEADLINE),
        max_bytes=settings.BLOCKLIST_MAX_BYTES,
        allow_private=settings.BLOCKLIST_ALLOW_PRIVATE,
        attempts=1,
        deadline=PREVIEW_DEADLINE,
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


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _runner_alive(runner: str, started_at, now) -> bool:
    """Whether the process that started a run may still be running it. On
    this host the pid says so; for another host (or a run written before
    runners were recorded) only age can: past STALE_CLAIM it is gone."""
    host, _, pid = runner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # alive, another user's
        return True
    return started_at > now - STALE_CLAIM


def close_orphaned_runs(source: BlocklistSource | None = None) -> int:
    """Close as failed every "running" import whose process is gone (a
    worker killed or restarted mid-import) and free its source, so the log
    stops polling and the next run is not refused for 15 minutes. Called
    when the worker starts and before each import. Returns how many."""
    now = timezone.now()
    runs = ImportRun.objects.filter(status=ImportRun.Status.RUNNING).select_related("source")
    if source is not None:
        runs = runs.filter(source=source)
    closed = 0
    for run in runs:
        if _runner_alive(run.runner, run.started_at, now):
            continue
        who = run.runner or "an earlier BanGUI version"
        updated = ImportRun.objects.filter(pk=run.pk, status=ImportRun.Status.RUNNING).update(
            status=ImportRun.Status.FAILED, finished_at=now,
            error=f"the process that ran this import ({who}) stopped before it finished "
                  "(killed or restarted); bans sent before that stay in fail2ban")
        if updated:
            closed += 1
            release(run.source)
            log.warning("closed orphaned import run %s of %s (runner %s gone)", run.pk,
                        run.source.name, who)
    return closed


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


def _chunks(ips: list[str]) -> list[list[str]]:
    """BAN_BATCH-sized chunks, the last one at most LAST_BATCH."""
    chunks = [ips[i:i + BAN_BATCH] for i in range(0, len(ips), BAN_BATCH)]
    if len(chunks) > 1 and len(chunks[-1]) > LAST_BATCH:
        last = chunks.pop()
        chunks += [last[:-LAST_BATCH], last[-LAST_BATCH:]]
    return chunks


@dataclass
class _Batch:
    ips: list[str]  # not banned in the jail when this import began
    countries: dict[str, str] = field(default_factory=dict)
    sent: float = 0.0  # epoch seconds the banip left
    newly: int = 0  # fail2ban's answer


def banned_now(conn, jail: str) -> set[str]:
    """The jail's banned IPs, read once before banning (``get JAIL banned``:
    ~0.2 s for 50,000 bans)."""
    return set(conn.call("get", jail, "banned") or ())


def _send(client: Fail2banClient, jail: str, batch: _Batch) -> _Batch:
    """Runs in the ban thread: socket only, no database."""
    batch.sent = record.wait_off_rounding_edge()
    batch.newly = int(client.call("set", jail, "banip", *batch.ips))
    return batch


def ban_and_archive(client: Fail2banClient, jail: str, ips: list[str],
                    run: ImportRun) -> int:
    """Ban ``ips`` (valid, canonical, unique: ``parse`` made them so) in
    batches and archive each batch while fail2ban bans the next one.

    fail2ban is another process: while it works on batch k (one core), this
    one looks up batch k's countries and writes batch k-1's archive rows
    (the other core). Only the last batch's rows are written after the last
    answer. The banip calls run in a helper thread that touches only the
    socket; every database call stays in this thread. Returns how many IPs
    were newly banned; fills ``run.timings`` (``ban``: first banip sent to
    last answer; ``archive``: the archive work left after that;
    ``archive_overlapped``: archive work done while fail2ban banned)."""
    from jails.archive.sync import lookup_countries

    jail = validation.jail_name(jail)
    # Sent (and archived) as fail2ban will store them; IPv4 lists are unchanged.
    ips = list(dict.fromkeys(record.fail2ban_text(ip) for ip in ips))
    with client.session() as conn:
        bantime = int(conn.call("get", jail, "bantime"))
        increment = conn.call("get", jail, "bantime.increment")
        before = banned_now(conn, jail)
    to_ban = [ip for ip in ips if ip not in before]
    # With bantime.increment fail2ban sets bantime and ban count per IP:
    # only its own rows (the sync) have them right.
    direct = not increment
    batches = [_Batch(chunk) for chunk in _chunks(to_ban)]
    newly = 0
    overlapped = 0.0
    fallback: list[_Batch] = []
    pending: _Batch | None = None  # answered, rows not yet written

    def archive(batch: _Batch) -> None:
        if batch.newly != len(batch.ips) or not direct:
            fallback.append(batch)  # not known exactly which IPs are new
            return
        record.store(batch.ips, jail, record.ban_time_of(batch.sent), bantime,
                     batch.countries)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="blocklist-ban") as pool:
        future = pool.submit(_send, client, jail, batches[0]) if batches else None
        try:
            for k, batch in enumerate(batches):
                work = time.perf_counter()
                if pending is not None:
                    archive(pending)
                    pending = None
                if direct:
                    batch.countries = lookup_countries(batch.ips)
                overlapped += time.perf_counter() - work
                done = future.result()
                newly += done.newly
                if k + 1 < len(batches):
                    future = pool.submit(_send, client, jail, batches[k + 1])
                pending = done
        except BaseException:
            if future is not None:
                future.cancel()
            raise
    run.timings["ban"] = round(time.perf_counter() - started, 4)
    tail = time.perf_counter()
    if pending is not None:
        archive(pending)
    if fallback:
        record.sync_fallback(jail, [ip for b in fallback for ip in b.ips],
                             sum(b.newly for b in fallback), run.started_at)
    run.timings["archive"] = round(time.perf_counter() - tail, 4)
    run.timings["archive_overlapped"] = round(overlapped, 4)
    return newly


def run_import(source: BlocklistSource, *, actor: str = "system",
               client: Fail2banClient | None = None) -> ImportRun:
    """Import ``source`` now. Raises AlreadyRunning if another run holds it."""
    close_orphaned_runs(source)
    if not claim(source):
        raise AlreadyRunning(f"an import of {source.name} is already running")
    run = ImportRun.objects.create(source=source, actor=actor, runner=runner_id())
    total = time.perf_counter()
    try:
        parsed = download_and_parse(source, run)
        # fail2ban runs one action per banned IP (~5 ms each) before it answers
        # a banip: a 5,000-IP batch can take half a minute.
        client = client or link.client(timeout=settings.BLOCKLIST_BAN_TIMEOUT)
        run.newly_banned = ban_and_archive(client, source.jail, parsed.ips, run)
        run.already_banned = len(parsed.ips) - run.newly_banned
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
    download = fetch(source_url, preview_policy())
    parsed = parse(download.body, cidr_limit=settings.BLOCKLIST_CIDR_LIMIT)
    return parsed, len(download.body)
