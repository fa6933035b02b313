"""Run one blocklist import: claim, download, parse, ban in batches, copy
fail2ban's rows into the archive with the sync and mark them "blocklist", log.

Why not write the archive rows directly while fail2ban bans (the earlier
design, a thread pipeline and a prediction of fail2ban's rounded ban time):
``bench/blocklist.py`` measured it 1.7-2.3x faster at the end of a 10,000-
100,000 IP import into an action-less jail, but under a second faster into a
jail with actions (the provisioned ``blocklist-import`` jail: fail2ban runs
one action per IP and that dominates), and it needed a second writer of
archive rows with its own twin-avoidance. One writer (the sync, fail2ban's
own key and times) is exact by construction (docs/blocklists.md).

A failed run (network, garbage, fail2ban down) bans nothing more, leaves
earlier bans (and their archive rows) and the source as they were, and its
ImportRun says why.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from blocklists.download import DownloadError, DownloadPolicy, fetch
from blocklists.models import BlocklistClaim, BlocklistSource, ImportRun
from blocklists.parse import GarbageList, ParseResult, parse
from jails.archive import sync as archive
from jails.archive.sync import ArchiveError
from jails.config.jail import BANGUI_JAILS
from jails.constants import BLOCKLIST_JAIL, Origin
from jails.fail2ban import Fail2banClient, Fail2banError, database, validation
from jails.fail2ban.errors import UnknownJail
from jails.live import link
from jails.models import BanEvent

log = logging.getLogger(__name__)

# fail2ban takes many IPs per banip; 5,000 keeps one reply well under the
# client's read limit and one call under a second on an action-less jail.
BAN_BATCH = 5000
ROWS_WAIT = 60.0  # s: fail2ban writes its rows behind banip (10-20 s per 100,000)
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


def claim(source: BlocklistSource, node: str | None = None) -> bool:
    """Claim-then-act: only one run per source and node at a time, across
    processes (each target node imports on its own)."""
    node = node or settings.BANGUI_NODE
    now = timezone.now()
    BlocklistClaim.objects.get_or_create(source=source, node=node)
    return bool(
        BlocklistClaim.objects.filter(source=source, node=node)
        .filter(Q(running_since__isnull=True) | Q(running_since__lt=now - STALE_CLAIM))
        .update(running_since=now)
    )


def release(source: BlocklistSource, node: str | None = None) -> None:
    BlocklistClaim.objects.filter(source=source, node=node or settings.BANGUI_NODE).update(
        running_since=None)


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
            release(run.source, run.node or None)
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


def jail_hint(jail: str) -> str:
    """What to do when the target jail is not running: BanGUI's own jails
    exist only once created on the Config page (the demo's first import
    used to end in a bare "no jail named 'blocklist-import' is running")."""
    if jail in {j.name for j in BANGUI_JAILS}:
        return (f". {jail!r} is one of BanGUI's own jails: create it on the Config page "
                "(\"Create them\"), then import again")
    return f". Start the jail {jail!r} (or aim the source at a running jail), then import again"


def fail2ban_text(ip: str) -> str:
    """The text fail2ban stores for a canonical address (``IPAddr.ntoa``):
    an IPv4-mapped IPv6 address becomes its IPv4 address, other IPv6 text
    comes from ``inet_ntop`` (e.g. ``::1.2.3.4`` where Python writes
    ``::102:304``). Sent that way, the already-banned check and the tagging
    compare like with like."""
    if ":" not in ip:
        return ip
    address = ipaddress.IPv6Address(ip)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return socket.inet_ntop(socket.AF_INET6, address.packed)


def ban_and_archive(client: Fail2banClient, jail: str, ips: list[str],
                    run: ImportRun) -> int:
    """Ban ``ips`` (valid, canonical, unique: ``parse`` made them so) in
    BAN_BATCH chunks, then copy fail2ban's rows for them with the archive
    sync and mark them "blocklist" (after a failed batch too: what was
    banned before it). Returns how many were newly banned; fills
    ``run.timings`` (``ban``, ``archive``)."""
    jail = validation.jail_name(jail)
    ips = list(dict.fromkeys(fail2ban_text(ip) for ip in ips))
    since = timezone.now().replace(microsecond=0)  # fail2ban stores round(t) >= this
    started, newly = time.perf_counter(), 0
    dbfile = client.dbfile()
    # Already banned: not sent, and their rows (an admin's ban a second ago,
    # "manual") are not marked.
    before = set(client.banned(jail))
    ips = [ip for ip in ips if ip not in before]
    try:
        for start in range(0, len(ips), BAN_BATCH):
            newly += client.ban(jail, ips[start:start + BAN_BATCH], batch=BAN_BATCH)
    finally:
        run.timings["ban"] = round(time.perf_counter() - started, 4)
        if newly and dbfile:
            tail = time.perf_counter()
            try:
                _archive_new(dbfile, jail, ips, newly, since)
            except (ArchiveError, database.Error, DatabaseError) as exc:
                # The bans are made: the import did its work. Their rows come
                # with the next scheduled sync (as "manual" outside the
                # blocklist jail); say so on the run instead of failing it.
                log.warning("import into %s: banned %d, archive copy deferred: %s",
                            jail, newly, exc)
                run.error = (f"Banned; copying the bans into the archive failed ({exc}): "
                             "the next archive sync copies them.")[:2000]
            run.timings["archive"] = round(time.perf_counter() - tail, 4)
    return newly


def _archive_new(dbfile: str, jail: str, ips: list[str], newly: int, since) -> None:
    """fail2ban's observer thread writes one row per new ban after banip
    answers (10-20 s behind for 100,000 on 2 cores): copy them with the sync
    as they come, so the archive's work overlaps fail2ban's writing, until
    all are there or ROWS_WAIT is over. The sync marks them "blocklist" as
    it inserts them (``Sent``). Rows still missing at the deadline come
    with the next scheduled sync ("manual" outside BLOCKLIST_JAIL)."""
    sent = archive.Sent(jail, frozenset(ips), since)
    deadline = time.monotonic() + ROWS_WAIT
    con = archive.open_readonly(dbfile)
    try:
        while True:
            done = (database.count_bans_since(con, jail, int(since.timestamp())) >= newly
                    or time.monotonic() >= deadline)
            copied = archive.sync(dbfile, sent=sent).read
            if done:
                break
            if copied < archive.DEFAULT_BATCH_SIZE:
                time.sleep(0.5)
    finally:
        con.close()
        if jail != BLOCKLIST_JAIL:
            _mark_copied_first(sent)


def _mark_copied_first(sent: archive.Sent) -> None:
    """Rows another sync copied first (the node's tick, between two of the
    import's) came in as "manual": mark those of the addresses sent, on
    this node. Usually there are none. Also after a failed sync (what was
    copied before it), and never raising over that failure."""
    manual = BanEvent.objects.filter(node=settings.BANGUI_NODE, jail=sent.jail,
                                     origin=Origin.MANUAL, banned_at__gte=sent.since)
    try:
        ours = [pk for pk, ip in manual.values_list("pk", "ip").iterator() if ip in sent.ips]
        for start in range(0, len(ours), BAN_BATCH):
            BanEvent.objects.filter(pk__in=ours[start:start + BAN_BATCH]).update(
                origin=Origin.BLOCKLIST)
    except DatabaseError:
        log.warning("import into %s: marking rows copied by another sync failed", sent.jail,
                    exc_info=True)


def run_import(source: BlocklistSource, *, actor: str = "system",
               client: Fail2banClient | None = None) -> ImportRun:
    """Import ``source`` now. Raises AlreadyRunning if another run holds it."""
    close_orphaned_runs(source)
    if not claim(source):
        raise AlreadyRunning(f"an import of {source.name} is already running on this node")
    run = ImportRun.objects.create(source=source, actor=actor, runner=runner_id(),
                                   node=settings.BANGUI_NODE)
    total = time.perf_counter()
    try:
        parsed = download_and_parse(source, run)
        # fail2ban runs one action per banned IP (~5 ms each) before it answers
        # a banip: a 5,000-IP batch can take half a minute.
        client = client or link.client(timeout=settings.BLOCKLIST_BAN_TIMEOUT)
        run.newly_banned = ban_and_archive(client, source.jail, parsed.ips, run)
        run.already_banned = len(parsed.ips) - run.newly_banned
        run.status = ImportRun.Status.OK
    except UnknownJail as exc:
        run.status = ImportRun.Status.FAILED
        run.error = f"{exc}{jail_hint(exc.jail)}"
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
