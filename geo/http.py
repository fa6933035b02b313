"""The optional HTTP fallback: ip-api.com's batch endpoint.

Off unless BANGUI_GEO_HTTP_FALLBACK is on, and only ever called from the
background worker (``GeoCache.lookup_batch`` with remote lookups allowed;
``lookup_cached_only`` never reaches it). ip-api's free batch endpoint takes
at most 100 addresses a request and 15 requests a minute; the limiter below
keeps under that, and the ``X-Rl``/``X-Ttl`` headers it answers with pause us
early when someone else shares our address.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

import requests

from geo.result import SOURCE_HTTP, GeoResult, make_result

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
CALLS_PER_MINUTE = 15
FIELDS = "status,message,countryCode,as,org,query"


class RateLimiter:
    """At most ``calls`` acquisitions in any ``period`` seconds (sliding
    window). Never sleeps: a caller out of budget leaves work for later."""

    def __init__(
        self, calls: int = CALLS_PER_MINUTE, period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.calls = calls
        self.period = period
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                return False
            while self._stamps and now - self._stamps[0] >= self.period:
                self._stamps.popleft()
            if len(self._stamps) >= self.calls:
                return False
            self._stamps.append(now)
            return True

    def block_for(self, seconds: float) -> None:
        """The server said our budget is spent; wait ``seconds`` before the
        next call."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


def _parse_asn(value: object) -> int | None:
    # ip-api answers "AS15169 Google LLC".
    if not isinstance(value, str) or not value.startswith("AS"):
        return None
    number = value[2:].split(" ", 1)[0]
    return int(number) if number.isdigit() else None


class IpApiResolver:
    """Batched country/ASN lookups against ip-api.com (or a compatible URL)."""

    source = SOURCE_HTTP
    remote = True

    def __init__(
        self,
        url: str,
        *,
        limiter: RateLimiter | None = None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url
        self.limiter = limiter or RateLimiter()
        self.timeout = timeout
        self._session = session or requests.Session()

    def resolve(self, ips: Iterable[str]) -> dict[str, GeoResult | None]:
        """A GeoResult for each address ip-api located, None for each it
        could not (or whose batch failed). Addresses left out of the answer
        were not tried because the rate limit was reached."""
        pending = list(ips)
        out: dict[str, GeoResult | None] = {}
        for start in range(0, len(pending), BATCH_SIZE):
            batch = pending[start : start + BATCH_SIZE]
            if not self.limiter.try_acquire():
                logger.info("geo http fallback: rate limit reached, %d left for later",
                            len(pending) - start)
                break
            out.update(self._call(batch))
        return out

    def _call(self, batch: list[str]) -> dict[str, GeoResult | None]:
        failed: dict[str, GeoResult | None] = dict.fromkeys(batch)
        try:
            response = self._session.post(
                self.url, params={"fields": FIELDS}, json=batch, timeout=self.timeout
            )
        except requests.RequestException as exc:
            logger.warning("geo http fallback failed: %s", type(exc).__name__)
            return failed
        self._obey_headers(response)
        if response.status_code != 200:
            logger.warning("geo http fallback answered HTTP %s", response.status_code)
            if response.status_code == 429:
                self.limiter.block_for(60)
            return failed
        try:
            rows = response.json()
        except ValueError:
            logger.warning("geo http fallback answered something that is not JSON")
            return failed
        if not isinstance(rows, list):
            return failed
        out = failed
        wanted = set(batch)
        for row in rows:
            if not isinstance(row, dict) or row.get("query") not in wanted:
                continue
            ip = row["query"]
            code = row.get("countryCode")
            if row.get("status") == "success" and isinstance(code, str) and len(code) == 2:
                org = row.get("org") if isinstance(row.get("org"), str) else None
                out[ip] = make_result(ip, code, SOURCE_HTTP, asn=_parse_asn(row.get("as")),
                                      org=org)
        return out

    def _obey_headers(self, response: requests.Response) -> None:
        remaining, ttl = response.headers.get("X-Rl"), response.headers.get("X-Ttl")
        if remaining == "0" and ttl and ttl.isdigit():
            self.limiter.block_for(int(ttl))

    def close(self) -> None:
        self._session.close()
