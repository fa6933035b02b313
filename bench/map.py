"""World map aggregation on a million archived bans.

    .venv/bin/python bench/map.py [--rows 1000000] [--ips 200000] [--runs 5]

Fills a throwaway SQLite database (temp dir; the real one is never touched)
with N BanEvent rows over 365 days from a pool of distinct IPs, country codes
skewed the way real ban lists are (a few countries dominate, 3% unresolved),
then times ``jails.archive.map_data.bans_by_country`` (the daily rollup for whole
days + the archive for the two partial edge days) and ``world_map`` (counts
+ classes + shapes) per window, median of ``--runs``,
before and after ``ANALYZE``, the SQL queries per call, and whole requests
through the test client. The functions are called with ``now``, which
bypasses the one-minute cache of the rollup's whole-day sums (cold: what
one request a minute per process pays); the "warm" lines and the pages go
through it (whole days from the cache, today's edge read).
Target: 365d under 300 ms.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import median_ms

JAILS = ["sshd", "nginx-http-auth", "postfix", "dovecot", "recidive", "apache-auth",
         "nginx-botsearch", "vsftpd", "blocklist-import", "bangui-auth"]
COUNTRIES = ["CN", "US", "RU", "DE", "BR", "IN", "VN", "KR", "FR", "GB", "NL", "ID", "UA",
             "TR", "PL", "JP", "IT", "ES", "IR", "TW", "HK", "SG", "AR", "MX", "CA", "TH",
             "RO", "BG", "ZA", "EG", "PK", "BD", "CO", "CL", "PH", "MY", "SE", "CH", "AU"]


def fill(rows: int, ips: int, now: datetime, nodes: list[str] | None = None) -> int:
    """Fill the archive like a backfill: the daily rollup's triggers off,
    the rollup counted once at the end. Returns the rollup's row count.
    ``nodes``: spread the rows over these fleet nodes (default: this one)."""
    from jails.archive import rollup
    from jails.constants import Origin
    from jails.models import BanEvent, ip_sort_key

    rollup.drop_triggers()

    rng = random.Random(7)
    weights = [1 / (i + 1) for i in range(len(COUNTRIES))]  # Zipf-like
    pool = []
    for _ in range(ips):
        octets = ((1, 223), (0, 255), (0, 255), (1, 254))
        ip = ".".join(str(rng.randint(lo, hi)) for lo, hi in octets)
        code = None if rng.random() < 0.03 else rng.choices(COUNTRIES, weights)[0]
        pool.append((ip, code))
    span = int(timedelta(days=365).total_seconds())
    origins = [Origin.DETECTED] * 8 + [Origin.MANUAL] + [Origin.BLOCKLIST]
    # Oldest first, as a real archive is written (the sync copies fail2ban's
    # rows in their order): a day's rows sit together in the table, not
    # spread over every page of it (until 2026-12-07 they were: the 24 h
    # window's 2,800 rows touched 2,600 pages on PostgreSQL).
    ages = sorted((rng.randrange(span) for _ in range(rows)), reverse=True)
    batch: list[BanEvent] = []
    for i in range(rows):
        ip, code = pool[i % ips] if i < ips else rng.choice(pool)
        extra = {"node": nodes[i % len(nodes)]} if nodes else {}
        batch.append(BanEvent(
            **extra, ip=ip, ip_key=ip_sort_key(ip), jail=rng.choice(JAILS), country_code=code,
            origin=rng.choice(origins),
            banned_at=now - timedelta(seconds=ages[i], microseconds=i % 1_000_000),
            bantime=600))
        if len(batch) == 20_000:
            BanEvent.objects.bulk_create(batch, batch_size=1_000)
            batch = []
    if batch:
        BanEvent.objects.bulk_create(batch, batch_size=2_000)
    rollup.install_triggers()
    return rollup.rebuild()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ips", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bangui-bench-map-")
    atexit.register(shutil.rmtree, tmp, True)  # ~0.5 GB at a million rows
    os.environ["BANGUI_DATA_DIR"] = tmp
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bangui.settings")
    os.environ["BANGUI_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from geo.shapes import shapes
    from jails.archive.map_data import bans_by_country, world_map

    call_command("migrate", verbosity=0)
    now = datetime.now(UTC)
    start = time.perf_counter()
    rollup_rows = fill(args.rows, args.ips, now)
    print(f"{args.rows:,} bans, {args.ips:,} IPs, SQLite (temp file); filled in "
          f"{time.perf_counter() - start:.1f} s (rollup: {rollup_rows:,} rows); "
          f"median of {args.runs}")

    start = time.perf_counter()
    shapes()
    print(f"{'load shapes (once per process)':<44} {(time.perf_counter() - start) * 1000:8.1f} ms")
    for label in ("no ANALYZE", "after ANALYZE"):
        if label == "after ANALYZE":
            with connection.cursor() as cur:
                cur.execute("ANALYZE")
        print(f"-- {label}")
        for window in ("24h", "7d", "30d", "365d"):
            ms = median_ms(lambda w=window: bans_by_country(w, now=now), args.runs)
            print(f"{'bans_by_country ' + window:<44} {ms:8.1f} ms")
        ms = median_ms(lambda: bans_by_country("365d", "manual", now=now), args.runs)
        print(f"{'bans_by_country 365d, origin=manual':<44} {ms:8.1f} ms")
        with CaptureQueriesContext(connection) as ctx:
            data = world_map("365d", now=now)
        ms = median_ms(lambda: world_map("365d", now=now), args.runs)
        print(f"{'world_map 365d (query + classes + shapes)':<44} {ms:8.1f} ms  "
              f"{len(ctx.captured_queries)} queries, {data.total_bans:,} bans, "
              f"{data.countries_with_bans} countries")
    cache.clear()
    bans_by_country("365d")  # fill the cache the way a view does
    ms = median_ms(lambda: bans_by_country("365d"), args.runs)
    print(f"{'bans_by_country 365d, warm':<44} {ms:8.1f} ms")
    cache.clear()
    _pages(args.runs)


def _pages(runs: int) -> None:
    """Server time of whole requests through Django's test client (logged
    in; fail2ban is not running, so the status bar answers "unreachable")."""
    from django.contrib.auth.models import User
    from django.test import Client

    from accounts.models import SetupCompletion

    SetupCompletion.objects.get_or_create(method="bench")
    web = Client(HTTP_HOST="localhost")
    web.force_login(User.objects.create_superuser("bench", password=None))
    htmx = {"HTTP_HX_REQUEST": "true"}
    for label, url, headers in (
        ("GET /map/?window=365d (whole page, warm)", "/map/?window=365d", {}),
        ("GET /map/?window=24h (whole page)", "/map/?window=24h", {}),
        ("GET /map/?window=365d&country=CN #map-bans", "/map/?window=365d&country=CN",
         {**htmx, "HTTP_HX_TARGET": "map-bans"}),
    ):
        response = web.get(url, **headers)
        assert response.status_code == 200, response.status_code
        ms = median_ms(lambda u=url, h=headers: web.get(u, **h), runs)
        print(f"{label:<44} {ms:8.1f} ms  {len(response.content) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
