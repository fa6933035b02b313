"""Run one blocklist import: claim, download, parse, ban in batches while
writing each answered batch's archive rows (origin "blocklist", geo's
country, fail2ban's key), log.

Why the importer writes the rows, not only the sync (issue #29, 100,000
addresses into a jail without actions in 10 s): fail2ban answers a banip
long before it writes its rows (its observer thread commits one row per
ban; ``bench/blocklist.py``'s machine: the 100,000 banip answers took
10.5 s, the rows 20 s, 14,230 written at the last answer), so an import
that copied fail2ban's rows could not end before ~20 s, and ended at 45 s
(SQLite) and 58 s (PostgreSQL). The rows it writes are the ones the sync
would copy (same key, bantime, count, failures, matches), so the sync
that reads fail2ban's rows later adds none; where the importer cannot know
them (``bantime.increment``, a batch fail2ban did not ban whole) the sync
copies them as before. The one-writer design this replaces (until
2026-12-07) and the earlier two-writer one: docs/blocklists.md.

A failed run (network, garbage, fail2ban down) bans nothing more, leaves
earlier bans (and their archive rows) and the source as they were, and its
ImportRun says why.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from blocklists.download import DownloadError, DownloadPolicy, fetch
from blocklists.models import BlocklistClaim, BlocklistSource, ImportRun
from blocklists.parse import GarbageList, ParseResult, parse
from geo.service import get_cache
from jails.archive import sync as archive
from jails.archive.sync import ArchiveError
from jails.config.jail import BANGUI_JAILS
from jails.constants import BLOCKLIST_JAIL, MANUAL_MATCH_SLACK, Origin
from jails.fail2ban import CommandError, Fail2banClient, Fail2banError, database, validation
from jails.fail2ban.errors import UnknownJail
from jails.live import link
from jails.models import BanEvent

log = logging.getLogger(__name__)

# fail2ban takes many IPs per banip; 5,000 keeps one reply well under the
# client's read limit and one call under a second on an action-less jail.
BAN_BATCH = 5000
LAST_BATCH = 500
ROWS_WAIT = 60.0  # s: fail2ban writes its rows behind banip (~5 s per 100,000)
# A claim older than this belongs to a run that died (worker killed).
STALE_CLAIM = timedelta(seconds=900)
PREVIEW_DEADLINE = 15.0  # s: a preview is a web request (gunicorn kills at 60)
# Time a banip needs to reach fail2ban's handler (socket, unpickling 5,000
# strings, a GIL hand-over in fail2ban): a batch is not sent in the last
# ROUNDING_EDGE seconds before a half second, so rounding the send time
# gives fail2ban's rounded ban time.
ROUNDING_EDGE = 0.15


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


def wait_off_rounding_edge(clock=time.time, sleep=time.sleep) -> float:
    """The send time of a banip (epoch seconds), after sleeping past the last
    ROUNDING_EDGE seconds before a half second (at most that long), so that
    rounding it gives fail2ban's stored ban time (``ban_time_of``)."""
    now = clock()
    fraction = now % 1.0
    if 0.5 - ROUNDING_EDGE <= fraction < 0.5:
        sleep(0.5 - fraction + 0.002)
        now = clock()
    return now


def ban_time_of(sent: float) -> datetime:
    """fail2ban's ``timeofban`` for a banip sent at ``sent``: it stamps every
    ticket of one banip with the one ``time.time()`` it takes when the
    command arrives and stores it rounded to whole seconds."""
    return datetime.fromtimestamp(round(sent), UTC)


@dataclass
class _Batch:
    ips: list[str]  # not banned in the jail when this import began
    sent: float = 0.0  # epoch seconds the banip left
    newly: int = 0  # fail2ban's answer
    countries: dict[str, str] = field(default_factory=dict)


def _send_all(client: Fail2banClient, jail: str, batches: list[_Batch],
              answered: queue.Queue, stop: threading.Event) -> None:
    """The ban thread: sends the batches one after the other, each as soon
    as fail2ban answered the one before (fail2ban never waits for the
    archive work), and hands each answered batch, or the error that ended
    the run, to the importer's thread. The socket only, no database. The
    addresses are ``parse``'s (valid, canonical, in fail2ban's text): sent
    as they are, without validating them again in this critical path."""
    try:
        for batch in batches:
            if stop.is_set():
                return
            batch.sent = wait_off_rounding_edge()
            batch.newly = int(client.call("set", jail, "banip", *batch.ips))
            answered.put(batch)
    except BaseException as exc:  # handed to the importer's thread
        answered.put(exc)


def _chunks(ips: list[str]) -> list[list[str]]:
    """BAN_BATCH-sized chunks, the last one at most LAST_BATCH: the rows of
    the last batch are the archive work left after fail2ban's last answer."""
    chunks = [ips[i:i + BAN_BATCH] for i in range(0, len(ips), BAN_BATCH)]
    if len(chunks) > 1 and len(chunks[-1]) > LAST_BATCH:
        last = chunks.pop()
        chunks += [last[:-LAST_BATCH], last[-LAST_BATCH:]]
    return chunks


def _jail_facts(client: Fail2banClient, jail: str) -> tuple[set[str], int, bool, str | None]:
    """On one connection: the jail's banned IPs (``get JAIL banned``, ~0.2 s
    at 50,000), its bantime, whether fail2ban sets bantime and ban count per
    IP (``bantime.increment``; a server that does not know the option has
    none), and fail2ban's database file."""
    with client.session() as conn:
        before = set(conn.call("get", jail, "banned") or ())
        bantime = int(conn.call("get", jail, "bantime"))
        try:
            increment = bool(conn.call("get", jail, "bantime.increment"))
        except UnknownJail:
            raise
        except CommandError:
            increment = False
        dbfile = conn.call("get", "dbfile")
    dbfile = None if not dbfile or str(dbfile) in (":memory:", "None") else str(dbfile)
    return before, bantime, increment, dbfile


def ban_and_archive(client: Fail2banClient, jail: str, ips: list[str],
                    run: ImportRun) -> int:
    """Ban ``ips`` (valid, canonical, unique: ``parse`` made them so) in
    BAN_BATCH chunks and archive each chunk while fail2ban bans the next.

    fail2ban answers a banip long before it writes the rows of its bans (its
    observer thread commits one row per ban: 100,000 rows take ~10 s more
    than the banip calls on the bench machine), so waiting for them doubles
    an import into a jail without actions. The importer knows every value
    of those rows (:func:`_direct_rows`) and writes them itself, with
    fail2ban's key: the scheduled sync that reads fail2ban's rows later
    meets them on the unique key and adds nothing. A batch whose answer
    does not say every address was newly banned, and every batch of a jail
    with ``bantime.increment`` (fail2ban computes bantime and count per IP),
    is copied from fail2ban's own rows by the sync instead
    (:func:`_archive_new`), as every batch was before.

    The banip calls run in a helper thread that touches only the socket;
    every database call stays in this thread. Returns how many were newly
    banned; fills ``run.timings`` (``ban``: until fail2ban's last answer;
    ``archive``: the archive work left after it; ``archive_overlapped``:
    archive work done while fail2ban banned)."""
    jail = validation.jail_name(jail)
    ips = list(dict.fromkeys(fail2ban_text(ip) for ip in ips))
    since = timezone.now().replace(microsecond=0)  # fail2ban stores round(t) >= this
    started = time.perf_counter()
    # Already banned: not sent, and their rows (an admin's ban a second ago,
    # "manual") are not marked.
    before, bantime, increment, dbfile = _jail_facts(client, jail)
    direct = bool(dbfile) and not increment
    window = since - MANUAL_MATCH_SLACK
    existing = _rows_in_window(jail, window) if direct and ips else 0
    ours: dict[str, datetime] = {}  # IP -> the key of the row the importer wrote
    stored = 0
    ips = [ip for ip in ips if ip not in before]
    batches = [_Batch(chunk) for chunk in _chunks(ips)]
    newly, overlapped = 0, 0.0
    fallback: list[_Batch] = []
    pending: _Batch | None = None  # answered, rows not yet written

    archive_error: list[Exception] = []  # the first archive failure: no more archive work

    def store(batch: _Batch) -> None:
        nonlocal stored
        if archive_error or not batch.newly:
            return
        if not (direct and batch.newly == len(batch.ips)):
            fallback.append(batch)  # which of them fail2ban banned: its rows say
            return
        try:
            stored += _store_direct(batch, jail, bantime)
        except (ArchiveError, database.Error, DatabaseError) as exc:
            archive_error.append(exc)
            return
        ours.update(dict.fromkeys(batch.ips, ban_time_of(batch.sent)))

    failure = None
    answered: queue.Queue = queue.Queue()
    stop = threading.Event()
    sender = threading.Thread(target=_send_all, args=(client, jail, batches, answered, stop),
                              name="blocklist-ban", daemon=True)
    sender.start()
    try:
        for batch in batches:
            work = time.perf_counter()
            if pending is not None:
                store(pending)
                pending = None
            if direct and not archive_error:
                batch.countries = archive.lookup_countries(batch.ips)
            overlapped += time.perf_counter() - work
            # Each call has its own deadline (the client's timeout for the
            # whole reply); this one bounds the wait for the thread's answer.
            try:
                done = answered.get(timeout=client.timeout + 30)
            except queue.Empty:
                raise Fail2banError(f"no answer from the ban thread within "
                                    f"{client.timeout + 30:g} s") from None
            if isinstance(done, BaseException):
                raise done
            newly += done.newly
            pending = done
    except BaseException as exc:
        failure = exc
        stop.set()
    finally:
        run.timings["ban"] = round(time.perf_counter() - started, 4)
        tail = time.perf_counter()
    sender.join(client.timeout + 30)  # at most the call in flight, which has its deadline
    try:
        if pending is not None:
            store(pending)
        if not archive_error:
            if ours and _rows_in_window(jail, window) > existing + stored:
                _reconcile(jail, ours, since)
            if fallback and dbfile:  # without a database fail2ban keeps no rows to copy
                _archive_new(dbfile, jail, [ip for b in fallback for ip in b.ips],
                             sum(b.newly for b in fallback), since)
    except (ArchiveError, database.Error, DatabaseError) as exc:
        archive_error.append(exc)
    finally:
        run.timings["archive"] = round(time.perf_counter() - tail, 4)
        run.timings["archive_overlapped"] = round(overlapped, 4)
    if archive_error:
        # The bans are made: the import did its work. Their rows come with
        # the next scheduled sync (as "manual" outside the blocklist jail);
        # say so on the run instead of failing it.
        exc = archive_error[0]
        log.warning("import into %s: banned %d, archive copy deferred: %s", jail, newly, exc)
        run.error = (f"Banned; copying the bans into the archive failed ({exc}): "
                     "the next archive sync copies them.")[:2000]
    if failure is not None:
        raise failure
    return newly


def _countries(ips: list[str]) -> dict[str, str]:
    """Each address's country as the sync stores it
    (``archive.lookup_countries``), without geo's write-through of new
    answers on the import's clock (it was 70 % of the importer's own work:
    a Django ``bulk_create`` of every new address into geo's table): memory,
    geo's table and the local MMDB first (``GeoCache.lookup_cached_only``:
    no writes, no network), then ``lookup_countries`` for the addresses
    those cannot place (the remote fallback where it is on, geo's negative
    cache), so every row gets the country it got before. geo's table gets
    the MMDB's answers when the next sync looks these addresses up."""
    codes: dict[str, str] = {}
    try:
        for ip, result in get_cache().lookup_cached_only(ips).items():
            code = getattr(result, "country_code", None)
            if code:
                codes[ip] = str(code).upper()[:2]
    except Exception:
        # Geo is a nice-to-have here: the full path below says why it fails.
        log.exception("geo lookup of %d IPs from its cache failed", len(ips))
    rest = [ip for ip in ips if ip not in codes]
    if rest:
        codes.update(archive.lookup_countries(rest))
    return codes


def _direct_rows(batch: _Batch, jail: str, bantime: int) -> list[list]:
    """The archive values (``archive._insert``'s column order) of the rows
    fail2ban writes for a banip: its key (jail, the IP in its text, the
    rounded time of the call), the jail's bantime, ban count 1, no failures,
    no matches; origin "blocklist" and geo's country."""
    banned_at = ban_time_of(batch.sent)
    return [[ip, jail, banned_at, bantime, 1, 0, "", Origin.BLOCKLIST, batch.countries.get(ip)]
            for ip in batch.ips]


def _store_direct(batch: _Batch, jail: str, bantime: int) -> int:
    """Write one answered batch's archive rows; returns how many were new
    (fewer when a sync copied some of these bans first: same key)."""
    with transaction.atomic():  # PostgreSQL's COPY goes through a temp table per transaction
        return archive._insert(_direct_rows(batch, jail, bantime), timezone.now())


def _rows_in_window(jail: str, start) -> int:
    return BanEvent.objects.filter(node=settings.BANGUI_NODE, jail=jail,
                                   banned_at__gte=start).count()


def _reconcile(jail: str, ours: dict[str, datetime], since: datetime) -> int:
    """After an import whose archive window holds rows it did not write (a
    sync that ran meanwhile copied fail2ban's rows for some of its bans, or
    other bans came in): a copy with this import's key is marked
    "blocklist"; a copy one or more seconds off (fail2ban's rounding of a
    call that took longer than ROUNDING_EDGE to arrive) holds fail2ban's
    key, so it is kept and marked and the importer's twin goes. Returns how
    many twins were removed. (A sync that copies them later adopts the
    importer's rows itself: ``archive._adopt_manual``.)"""
    found: dict[str, list[tuple]] = {}
    start = since - MANUAL_MATCH_SLACK
    for row in (BanEvent.objects.filter(node=settings.BANGUI_NODE, jail=jail,
                                        banned_at__gte=start).order_by()
                .values_list("id", "ip", "banned_at", "origin").iterator(chunk_size=5000)):
        if row[1] in ours:
            found.setdefault(row[1], []).append(row)
    drop, mark = [], []
    for ip, rows in found.items():
        if len(rows) == 1 and rows[0][2] == ours[ip] and rows[0][3] == Origin.BLOCKLIST:
            continue  # the importer's own row, alone
        mine = [r for r in rows if r[2] == ours[ip]]
        # (fail2ban's time of a ban of this import is not before it began:
        # a row from before is another ban of the address, not a twin)
        theirs = [r for r in rows if r[2] != ours[ip] and r[2] >= since
                  and abs(r[2] - ours[ip]) <= MANUAL_MATCH_SLACK]
        if theirs and mine and mine[0][3] == Origin.BLOCKLIST:
            drop.append(mine[0][0])
            mark += [r[0] for r in theirs if r[3] == Origin.MANUAL]
        else:
            mark += [r[0] for r in mine if r[3] == Origin.MANUAL]
    for at in range(0, max(len(drop), len(mark)), BAN_BATCH):
        if drop[at:at + BAN_BATCH]:
            BanEvent.objects.filter(pk__in=drop[at:at + BAN_BATCH]).delete()
        if mark[at:at + BAN_BATCH]:
            BanEvent.objects.filter(pk__in=mark[at:at + BAN_BATCH]).update(
                origin=Origin.BLOCKLIST)
    return len(drop)


def _archive_new(dbfile: str, jail: str, ips: list[str], newly: int, since) -> None:
    """fail2ban's observer thread writes one row per new ban after banip
    answers (~5 s behind for 100,000): wait for them (bounded), sync, mark
    them. Rows still missing at the deadline come with the next scheduled
    sync ("manual" outside BLOCKLIST_JAIL)."""
    deadline = time.monotonic() + ROWS_WAIT
    con = archive.open_readonly(dbfile)
    try:
        while (database.count_bans_since(con, jail, int(since.timestamp())) < newly
               and time.monotonic() < deadline):
            time.sleep(0.2)
    finally:
        con.close()
    archive.sync(dbfile)
    if jail != BLOCKLIST_JAIL:  # there the sync marks them "blocklist" itself
        rows = BanEvent.objects.filter(jail=jail, origin=Origin.MANUAL, banned_at__gte=since)
        for start in range(0, len(ips), BAN_BATCH):
            rows.filter(ip__in=ips[start:start + BAN_BATCH]).update(origin=Origin.BLOCKLIST)


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
