"""GeoCache throughput: in-memory hits, MMDB misses, and lookup_batch of
10,000 addresses (with and without the geo_cache read), plus one flush.

    .venv/bin/python bench/geo.py [--n 10000] [--rounds 5]

Runs against a throwaway SQLite database in a temp dir, so it never touches
the real one. Targets: >= 500,000/s cached, >= 50,000/s MMDB.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def public_ips(n: int, seed: int, reader) -> list[str]:
    """Random addresses the database knows (banned addresses are real,
    routed ones), 80% IPv4, 20% IPv6."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        if rng.random() < 0.8:
            addr = ipaddress.IPv4Address(rng.getrandbits(32))
        else:  # 2000::/3 is sparse: pick from 2001::/16 and 2a00::/12
            prefix = rng.choice([(0x2001 << 112, 112), (0x2A0 << 116, 116)])
            addr = ipaddress.IPv6Address(prefix[0] | rng.getrandbits(prefix[1]))
        if addr.is_global and not addr.is_multicast and reader.get(str(addr)):
            out.append(str(addr))
    return out


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}/s"


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, rounds = args.n, args.rounds

    tmp = tempfile.mkdtemp(prefix="bangui-bench-geo-")
    os.environ["BANGUI_DATA_DIR"] = tmp
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bangui.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from geo.cache import GeoCache
    from geo.mmdb import MmdbResolver, country_db_path, open_reader

    db_path = country_db_path()
    print(f"database: {db_path.name}; {n:,} random public addresses; best of {rounds}")
    resolver = MmdbResolver(db_path)
    reader = open_reader(db_path)

    # 1. in-memory hits
    ips = public_ips(n, 1, reader)
    cache = GeoCache([resolver], use_db=False)
    cache.lookup_batch(ips)
    lookup = cache.lookup

    def single_hits() -> None:
        for ip in ips:
            lookup(ip)

    print(f"in-memory hits, lookup()          {rate(n, best(single_hits, rounds))}")
    t = best(lambda: cache.lookup_batch(ips), rounds)
    print(f"in-memory hits, lookup_batch()    {rate(n, t)}")
    t = best(lambda: cache.lookup_cached_only(ips), rounds)
    print(f"in-memory hits, lookup_cached_only{rate(n, t)}")

    # 2. MMDB misses: a fresh cache, fresh addresses each round
    def misses(batch: bool):
        seeds = iter(range(100, 100 + rounds))

        def run() -> None:
            fresh = GeoCache([resolver], use_db=False)
            batch_ips = public_ips(n, next(seeds), reader)
            start = time.perf_counter()
            if batch:
                fresh.lookup_batch(batch_ips)
            else:
                for ip in batch_ips:
                    fresh.lookup(ip)
            run.elapsed.append(time.perf_counter() - start)

        run.elapsed = []
        for _ in range(rounds):
            run()
        return min(run.elapsed)

    print(f"MMDB misses, lookup()             {rate(n, misses(batch=False))}")
    print(f"MMDB misses, lookup_batch()       {rate(n, misses(batch=True))}")

    # 3. lookup_batch of n new addresses: a geo_cache read, the resolver, the
    # write-through upsert of the answers
    times = []
    for r in range(rounds):
        fresh = GeoCache([resolver])
        batch_ips = public_ips(n, 1000 + r, reader)
        start = time.perf_counter()
        fresh.lookup_batch(batch_ips)
        times.append(time.perf_counter() - start)
    print(f"lookup_batch({n:,}) new, written through {rate(n, min(times))}"
          f"  ({min(times) * 1000:.1f} ms)")
    warm = GeoCache([resolver])
    start = time.perf_counter()
    warm.lookup_batch(batch_ips)  # all in geo_cache now: DB hits
    t = time.perf_counter() - start
    print(f"lookup_batch({n:,}) from geo_cache     {rate(n, t)}  ({t * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
