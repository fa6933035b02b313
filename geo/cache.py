"""GeoCache: the one object that owns all mutable geo state of a process.

Holds the in-memory cache (ip -> GeoResult), the negative cache of recent
failures, pending ``last_seen`` touches, the resolvers (and through them
the MMDB readers and the HTTP rate limiter) and the lock guarding all of
it. One instance per process, reached through ``geo.service.get_cache()``;
tests build their own.

Two ways in:

* ``lookup``/``lookup_batch`` — for the background worker and the commands
  (archive sync, blocklist imports, re-resolve). Misses are read from the
  database, then resolved; **new answers are written through**, one bulk
  upsert per call (a sync batch), so no process can exit with answers
  unwritten. Only ``last_seen`` touches of cache hits wait in memory (a
  write per hit would turn every cache hit into a write) and are written
  by ``flush_touches``: the ``geo.tasks.flush`` schedule every minute, the
  worker's exit, and the commands before they exit. Remote resolvers run
  only when ``allow_remote`` is set, which only the worker does.
* ``lookup_cached_only`` — for page views: memory, one read of
  ``geo_cache``, then the read-only local MMDB. It never writes to the
  database, never queues a write, and never calls a remote resolver.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import NamedTuple, Protocol

from django.utils import timezone

from geo.result import (
    SOURCE_NONE,
    GeoResult,
    is_local,
    local_result,
    none_result,
    parse_ip,
)

logger = logging.getLogger(__name__)

NEGATIVE_TTL = 300.0  # seconds a failed address is not tried again
DB_CHUNK = 500  # addresses per IN (...) statement; well under SQLite's variable limit
READ_CHUNK = 5000  # addresses per read of geo_cache (one array parameter)
WRITE_BATCH = 5000  # rows per write transaction
MAX_ENTRIES = 200_000
# The task worker resolves in batches (the archive sync: one read of geo_cache
# per 500 addresses), so memory only spares it re-reading an address banned
# again soon. 200,000 entries cost ~60 MiB a process; a worker filled them
# with every blocklist import's addresses and never let go. Pages keep the
# larger bound: they show the same addresses request after request.
WORKER_MAX_ENTRIES = 20_000


class Resolver(Protocol):
    """Something that locates addresses. ``resolve`` returns, per address,
    a GeoResult, or None when it tried and failed; an address missing from
    the answer was not tried (e.g. a rate limit) and is not a failure."""

    source: str
    remote: bool

    def resolve(self, ips: Iterable[str]) -> dict[str, GeoResult | None]: ...


class Prepared(NamedTuple):
    """:meth:`GeoCache.prepare`'s answer, for :meth:`GeoCache.complete`."""

    out: dict[str, GeoResult]  # answered already, keyed as asked
    misses: dict[str, list[str]]  # canonical key -> the spellings asked for
    local: dict[int, dict[str, GeoResult | None]]  # resolver index -> its answers
    at: datetime  # when asked: last_seen of what it finds


class GeoCache:
    def __init__(
        self,
        resolvers: Sequence[Resolver] = (),
        *,
        allow_remote: bool = False,
        use_db: bool = True,
        negative_ttl: float = NEGATIVE_TTL,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.resolvers: list[Resolver] = list(resolvers)
        # Only the worker turns this on (geo.apps, on django-q2's post_spawn).
        self.allow_remote = allow_remote
        self.use_db = use_db
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._clock = clock
        self._now = now
        self._lock = threading.RLock()
        self._memory: dict[str, GeoResult] = {}
        self._negative: dict[str, float] = {}  # ip -> clock() when it may be tried again
        self._touches: dict[str, datetime] = {}  # ip -> last_seen, not yet in geo_cache
        # Lookups answered from memory or geo_cache vs passed on to a resolver
        # (this process only; /metrics reports them).
        self._hits = 0
        self._misses = 0

    # --- lookups --------------------------------------------------------------

    def lookup(self, ip: str) -> GeoResult:
        hit = self._memory.get(ip)
        if hit is not None and hit.country_code is not None:
            now = self._now()
            with self._lock:
                self._touches[ip] = now
                self._hits += 1
            return hit
        return self.lookup_batch([ip])[ip]

    def _from_memory_then_db(self, ips: Iterable[str], *, touch_at):
        """Answers from memory, then one read of geo_cache (stored rows are
        remembered, not written again; with ``touch_at`` their last_seen is queued).
        Returns (answers keyed as given, misses: canonical key -> raw keys)."""
        return self._then_db(*self._from_memory(ips, touch_at=touch_at), touch_at=touch_at)

    def _then_db(self, out: dict[str, GeoResult], misses: dict[str, list[str]], *, touch_at):
        if misses and self.use_db:
            for key, row in self._read_db(list(misses)).items():
                if row.country_code is None:
                    continue  # known, unresolved: the caller tries again
                with self._lock:
                    self._remember(key, row)
                    if touch_at is not None:
                        self._touches[key] = touch_at
                for raw in misses.pop(key):
                    out[raw] = row
        self._count(len(out), len(misses))
        return out, misses

    def lookup_batch(
        self, ips: Iterable[str], *, remote: bool | None = None
    ) -> dict[str, GeoResult]:
        """A GeoResult for every address in ``ips`` (keyed as given). Marks
        each as seen now. Remote resolvers run when ``remote`` (default: the
        cache's ``allow_remote``) is true."""
        return self.complete(self._start(ips, local=False), remote=remote)

    def prepare(self, ips: Iterable[str]) -> Prepared:
        """The part of :meth:`lookup_batch` that needs neither the database
        nor the network: memory, and the local resolvers' answers (the
        MMDB) for the rest, which :meth:`complete` uses unless geo_cache
        holds the address. For a caller with database work of its own to
        overlap it with: the archive sync runs this in its reader thread,
        beside its inserts. Costs an MMDB lookup for each address that
        geo_cache turns out to hold."""
        return self._start(ips, local=True)

    def complete(self, prepared: Prepared, *, remote: bool | None = None
                 ) -> dict[str, GeoResult]:
        """:meth:`lookup_batch` for what :meth:`prepare` left open: one read
        of geo_cache, the resolvers (those that answered in ``prepare`` are
        not asked again), the new answers written through."""
        out, misses = dict(prepared.out), dict(prepared.misses)
        with self._lock:
            # Answers that came in since prepare() (the sync prepares a page
            # or two ahead of the one it writes).
            for key in [key for key in misses if key in self._memory]:
                hit = self._memory[key]
                if hit.country_code is not None:
                    self._touches[key] = prepared.at
                    for raw in misses.pop(key):
                        out[raw] = hit
        out, misses = self._then_db(out, misses, touch_at=prepared.at)
        if misses:
            allow = self.allow_remote if remote is None else remote
            for key, result in self._resolve(list(misses), remote=allow, now=prepared.at,
                                             known=prepared.local).items():
                for raw in misses[key]:
                    out[raw] = result
        return out

    def _start(self, ips: Iterable[str], *, local: bool) -> Prepared:
        now = self._now()
        out, misses = self._from_memory(ips, touch_at=now)
        known: dict[int, dict[str, GeoResult | None]] = {}
        pending = list(misses) if local else []
        # The leading local resolvers only: _resolve asks in order, and an
        # answer from one after a remote resolver would depend on that one.
        for index, resolver in enumerate(self.resolvers):
            if not pending or resolver.remote:
                break
            answers = known[index] = self._ask(resolver, pending)
            pending = [key for key in pending
                       if (found := answers.get(key)) is None or found.country_code is None]
        return Prepared(out, misses, known, now)

    def lookup_cached_only(self, ips: Iterable[str]) -> dict[str, GeoResult]:
        """Memory, then one read of geo_cache, then the local MMDB. No
        database writes, no queued writes, no network: safe in page views."""
        out, misses = self._from_memory_then_db(ips, touch_at=None)
        local = [r for r in self.resolvers if not r.remote]
        pending = list(misses)
        for resolver in local:
            if not pending:
                break
            answers = self._ask(resolver, pending)
            still = []
            for key in pending:
                found = answers.get(key)
                if found is not None and found.country_code is not None:
                    for raw in misses[key]:
                        out[raw] = found
                else:
                    still.append(key)
            pending = still
        for key in pending:
            result = none_result(key)
            for raw in misses[key]:
                out[raw] = result
        return out

    def refresh(self, ips: Iterable[str], *, remote: bool | None = None) -> dict[str, GeoResult]:
        """Resolve ``ips`` again, ignoring memory and the database but not
        the negative cache (re-resolve). Returns only the addresses that got
        a country; those are stored (written through)."""
        keys = []
        for raw in ips:
            try:
                addr = parse_ip(raw)
            except ValueError:
                continue
            if not is_local(addr):
                keys.append(str(addr))
        allow = self.allow_remote if remote is None else remote
        results = self._resolve(keys, remote=allow, now=self._now(), store_failures=False)
        return {k: r for k, r in results.items() if r.country_code is not None}

    # --- persistence -------------------------------------------------------------

    def flush_touches(self) -> int:
        """Write the coalesced ``last_seen`` touches of cache hits (one UPDATE
        per minute of touches, per DB_CHUNK addresses). Returns the rows
        written. On a database error nothing is lost: the touches go back
        into memory and the error is raised."""
        from geo.models import GeoCacheEntry

        with self._lock:
            touches, self._touches = self._touches, {}
        by_minute: dict[datetime, list[str]] = {}
        for ip, seen in touches.items():
            by_minute.setdefault(seen.replace(second=0, microsecond=0), []).append(ip)
        written = 0
        try:
            # One short statement each, no transaction around them: a touch
            # written twice (after an error) is harmless, and 50,000 touches
            # must not hold SQLite's write lock at once.
            for minute, ips in sorted(by_minute.items()):
                for chunk in _chunks(ips, DB_CHUNK):
                    written += GeoCacheEntry.objects.filter(
                        ip__in=chunk, last_seen__lt=minute
                    ).update(last_seen=minute)
        except Exception:
            with self._lock:
                for ip, seen in touches.items():
                    current = self._touches.get(ip)
                    if current is None or current < seen:
                        self._touches[ip] = seen
            raise
        return written

    def _write(self, stored: dict[str, GeoResult], now: datetime) -> None:
        """Write new answers through: one upsert statement per DB_CHUNK
        rows (per WRITE_BATCH on PostgreSQL), a transaction per WRITE_BATCH.
        On a database error they leave memory too, so the next lookup
        resolves them again instead of trusting an answer never stored."""
        rows = [(ip, r.country_code, r.country_name, r.asn, r.org, r.source)
                for ip, r in stored.items()]
        try:
            # One transaction per WRITE_BATCH rows: an import's 100,000 new
            # addresses must not hold SQLite's write lock for all of them.
            for start in range(0, len(rows), WRITE_BATCH):
                _upsert(rows[start:start + WRITE_BATCH], now)
        except Exception:
            with self._lock:
                for ip in stored:
                    self._memory.pop(ip, None)
            raise

    def load_from_db(self, limit: int | None = None) -> int:
        """Warm memory with the most recently seen resolved rows."""
        from geo.models import GeoCacheEntry

        limit = min(limit or self.max_entries, self.max_entries)
        rows = (GeoCacheEntry.objects.filter(country_code__isnull=False)
                .order_by("-last_seen")[:limit])
        count = 0
        with self._lock:
            for row in rows.iterator(chunk_size=2000):
                self._memory.setdefault(row.ip, row.to_result())
                count += 1
        return count

    def forget(self, ips: Iterable[str]) -> None:
        """Drop addresses whose rows were deleted (cleanup)."""
        with self._lock:
            for ip in ips:
                self._memory.pop(ip, None)
                self._touches.pop(ip, None)
                self._negative.pop(ip, None)

    def clear(self) -> None:
        """Forget everything held in memory, unflushed work included."""
        with self._lock:
            self._memory.clear()
            self._negative.clear()
            self._touches.clear()

    def is_negative(self, ip: str) -> bool:
        with self._lock:
            return self._negative.get(ip, 0.0) > self._clock()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"memory": len(self._memory), "negative": len(self._negative),
                    "touches": len(self._touches)}

    def counters(self) -> dict[str, int]:
        """Addresses answered without a resolver (hits) and not (misses)."""
        with self._lock:
            return {"hits": self._hits, "misses": self._misses}

    def _count(self, hits: int, misses: int) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses

    def close(self) -> None:
        for resolver in self.resolvers:
            close = getattr(resolver, "close", None)
            if close is not None:
                close()

    # --- internals ------------------------------------------------------------

    def _from_memory(
        self, ips: Iterable[str], *, touch_at: datetime | None
    ) -> tuple[dict[str, GeoResult], dict[str, list[str]]]:
        """Answers memory can give, and the misses as normalised key ->
        the spellings asked for. Unresolved memory entries count as misses
        so they are retried once their negative-cache time is over."""
        out: dict[str, GeoResult] = {}
        misses: dict[str, list[str]] = {}
        memory, touches = self._memory, self._touches
        with self._lock:
            for raw in ips:
                hit = memory.get(raw)
                if hit is not None and hit.country_code is not None:
                    out[raw] = hit
                    if touch_at is not None:
                        touches[raw] = touch_at
                    continue
                try:
                    addr = parse_ip(raw)
                except (ValueError, AttributeError):
                    out[raw] = none_result(str(raw))
                    continue
                if is_local(addr):
                    out[raw] = local_result(str(addr))
                    continue
                key = str(addr)
                if key != raw:
                    hit = memory.get(key)
                    if hit is not None and hit.country_code is not None:
                        out[raw] = hit
                        if touch_at is not None:
                            touches[key] = touch_at
                        continue
                misses.setdefault(key, []).append(raw)
        return out, misses

    def _read_db(self, keys: list[str]) -> dict[str, GeoResult]:
        from geo.models import GeoCacheEntry

        found: dict[str, GeoResult] = {}
        for chunk in _chunks(keys, READ_CHUNK):
            # any_of (bangui.lookups): the chunk as one parameter.
            rows = GeoCacheEntry.objects.filter(ip__any_of=chunk).values_list(
                "ip", "country_code", "country_name", "asn", "org", "source"
            )
            for ip, code, name, asn, org, source in rows:
                found[ip] = GeoResult(ip, code, name, asn, org, source)
        return found

    def _ask(self, resolver: Resolver, keys: list[str],
             known: dict[str, GeoResult | None] | None = None) -> dict[str, GeoResult | None]:
        if known is not None:  # prepare() asked already; only what it did not ask
            answers = {key: known[key] for key in keys if key in known}
            rest = [key for key in keys if key not in known]
            if rest:
                answers.update(self._ask(resolver, rest))
            return answers
        try:
            return resolver.resolve(keys)
        except Exception:
            logger.exception("geo resolver %s failed", getattr(resolver, "source", resolver))
            return dict.fromkeys(keys)

    def _resolve(
        self, keys: list[str], *, remote: bool, now: datetime, store_failures: bool = True,
        known: dict[int, dict[str, GeoResult | None]] | None = None,
    ) -> dict[str, GeoResult]:
        """Ask the resolvers in order about ``keys`` (normalised, public).
        Stores (memory, and geo_cache written through) what they answer; failures go to the negative
        cache and, with ``store_failures``, are stored unresolved so
        re-resolve finds them. Re-resolve passes False: a failed retry must
        not erase a country found earlier. ``known``: answers :meth:`prepare`
        got, by the resolver's index."""
        out: dict[str, GeoResult] = {}
        tick = self._clock()
        with self._lock:
            pending = []
            for key in keys:
                if self._negative.get(key, 0.0) > tick:
                    out[key] = self._memory.get(key) or none_result(key)
                else:
                    self._negative.pop(key, None)
                    pending.append(key)
        deferred: set[str] = set()
        for index, resolver in enumerate(self.resolvers):
            if not pending:
                break
            if resolver.remote and not remote:
                continue
            answers = self._ask(resolver, pending, (known or {}).get(index))
            still = []
            for key in pending:
                if key not in answers:
                    deferred.add(key)
                    still.append(key)
                    continue
                found = answers[key]
                if found is not None and found.country_code is not None:
                    out[key] = found
                else:
                    still.append(key)
            pending = still
        failed_until = self._clock() + self.negative_ttl
        stored: dict[str, GeoResult] = {}
        with self._lock:
            for key, result in out.items():
                if result.source != SOURCE_NONE and result.country_code is not None:
                    stored[key] = result
            for key in pending:
                if key not in deferred:
                    self._negative[key] = failed_until
                out[key] = none_result(key)
                if store_failures and (key not in deferred or key not in self._memory):
                    stored[key] = out[key]
            for key, result in stored.items():
                self._remember(key, result)
                self._touches.pop(key, None)  # the row is written with last_seen = now
        if stored and self.use_db:
            self._write(stored, now)
        return out

    def _remember(self, key: str, result: GeoResult) -> None:
        self._memory[key] = result
        if len(self._memory) > self.max_entries:
            # Crude but bounded: drop the oldest entries down to 3/4 of the
            # limit (every one is in geo_cache already).
            excess = len(self._memory) - self.max_entries * 3 // 4
            for old in list(islice(self._memory, excess)):
                del self._memory[old]


_COLUMNS = ("ip", "country_code", "country_name", "asn", "org", "source", "resolved_at",
            "last_seen")


def _upsert(rows: list[tuple], now: datetime) -> None:
    """INSERT ... ON CONFLICT (ip) DO UPDATE, in raw SQL: the statement
    ``bulk_create(update_conflicts=True)`` writes, without its per-value
    preparation, which cost 8 of the 10 s a 100,000-address blocklist
    import spent writing geo_cache on SQLite (2026-12-07). ``rows``: (ip,
    code, name, asn, org, source), the ip canonical (``parse_ip``), all
    stamped ``now``."""
    from django.db import connection, transaction

    from geo.models import GeoCacheEntry

    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(GeoCacheEntry._meta.db_table)
    columns = ", ".join(qn(c) for c in _COLUMNS)
    updates = ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in _COLUMNS[1:])
    stamp = connection.ops.adapt_datetimefield_value(now)
    if connection.vendor == "postgresql":
        # One column array per parameter: psycopg parses a statement with
        # thousands of placeholders on the client, which cost more than
        # the insert (5 of 6 s for 50,000 addresses).
        arrays = [list(column) for column in zip(*rows, strict=True)]
        types = ("inet", "varchar", "varchar", "bigint", "varchar", "varchar")
        unnest = ", ".join(f"%s::{kind}[]" for kind in types)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608
                f"SELECT *, %s, %s FROM unnest({unnest}) "
                f"ON CONFLICT ({qn('ip')}) DO UPDATE SET {updates}", [stamp, stamp, *arrays])
        return
    one_row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    with transaction.atomic(), connection.cursor() as cursor:
        for chunk in _chunks(rows, DB_CHUNK):
            params: list = []
            for row in chunk:
                params += [*row, stamp, stamp]
            # Only quoted model identifiers are formatted in; values are bound.
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "  # noqa: S608
                f"VALUES {', '.join([one_row] * len(chunk))} "
                f"ON CONFLICT ({qn('ip')}) DO UPDATE SET {updates}", params)


def _chunks(items: list, size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
