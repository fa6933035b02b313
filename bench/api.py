"""JSON API benchmark (docs/api.md): /api/v1/bans/ and the CSV export on a
million archived bans.

    .venv/bin/python bench/api.py [--rows N] [--runs R]

Uses bench/archive.py's fail2ban database of N bans over 365 days (built
once, cached in bench/data/), copies it into a fresh SQLite archive with the
owner's backfill, then, each in a child process of its own so that its peak
RSS is its own:

- ``GET /api/v1/bans/`` with a Bearer token, through the whole Django stack
  (test client: middleware, auth, the rate limit, the dashboard's form, the
  archive query): median of R runs per window, first page of 50 and of 500;
- the CSV export of the 365-day window (every row), streamed and counted:
  rows/s and the child's peak RSS, beside the same child exporting the last
  24 hours only (a few thousand rows): flat memory means the two peaks are
  about the same.

Prints one table. Targets (issue #26): GET p50 < 50 ms at 1M rows; the
export's peak RSS independent of its row count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINDOWS = ("24h", "7d", "30d", "365d")


def _django() -> None:
    # Run as a script, bench/ is sys.path[0], and bench/geo.py would shadow
    # the geo app: import from the project root instead.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    import django

    django.setup()


def _client_and_token():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.models import SetupCompletion
    from api import tokens

    SetupCompletion.objects.get_or_create(method="bench")
    user, _ = get_user_model().objects.get_or_create(username="bench")
    secret = tokens.issue(user, "read").secret
    return Client(HTTP_HOST="localhost"), {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def child_prepare(source: Path) -> dict:
    _django()
    from django.core.management import call_command

    from jails.archive import backfill

    call_command("migrate", verbosity=0)
    work = Path(os.environ["BANGUI_DATA_DIR"]) / "fail2ban.sqlite3"
    shutil.copy(source, work)
    t = time.perf_counter()
    result = backfill.run(str(work), fill_geo=False)
    return {"rows": result.inserted, "backfill_s": time.perf_counter() - t}


def child_get(runs: int) -> dict:
    _django()
    from django.core.cache import cache
    from django.test.utils import override_settings

    sys.path.insert(0, str(ROOT))
    from bench.timing import median_ms

    client, auth = _client_and_token()
    out = {}
    with override_settings(BANGUI_API_RATE_LIMIT=0):
        for per_page in (50, 500):
            for window in WINDOWS:
                def get(window=window, per_page=per_page):
                    response = client.get("/api/v1/bans/", {"window": window,
                                                            "per_page": per_page}, **auth)
                    assert response.status_code == 200, response.content[:300]
                    return response

                count = get().json()["count"]
                cache.clear()  # the rollup's one-minute day sums: cold as a first visit
                out[f"{window}/{per_page}"] = {"count": count, "ms": median_ms(get, runs)}
    return out


def child_export(window: str) -> dict:
    _django()
    client, auth = _client_and_token()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    response = client.get("/api/v1/bans/export.csv", {"window": window}, **auth)
    lines = size = 0
    for piece in response.streaming_content:
        lines += piece.count(b"\n")
        size += len(piece)
    seconds = time.perf_counter() - t
    return {"window": window, "rows": lines - 1, "seconds": seconds, "mb": size / 1e6,
            "rss_before_mb": before / 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(env: dict, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        what, *rest = args.child
        result = {"prepare": lambda: child_prepare(Path(rest[0])),
                  "get": lambda: child_get(int(rest[0])),
                  "export": lambda: child_export(rest[0])}[what]()
        print(json.dumps(result))
        return

    sys.path.insert(0, str(ROOT))
    from bench.archive import DATA, build_db

    DATA.mkdir(parents=True, exist_ok=True)
    source = DATA / f"fail2ban-{args.rows}.sqlite3"
    if not source.exists() or time.time() - source.stat().st_mtime > 6 * 3600:
        t = time.perf_counter()
        build_db(source, args.rows)
        print(f"built {source} in {time.perf_counter() - t:.1f} s", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-api-"))
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bangui.settings", PYTHONPATH=str(ROOT),
               BANGUI_DATA_DIR=str(tmp))
    env.pop("DATABASE_URL", None)
    try:
        prepared = _child(env, "prepare", str(source))
        print(f"archive: {prepared['rows']:,} bans (backfill {prepared['backfill_s']:.1f} s)",
              flush=True)
        gets = _child(env, "get", str(args.runs))
        small = _child(env, "export", "24h")
        full = _child(env, "export", "365d")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nGET /api/v1/bans/ (median of {args.runs}, SQLite, whole Django stack)")
    print(f"{'window':>8} {'per page':>9} {'matching':>10} {'p50 ms':>8}")
    for key, value in gets.items():
        window, per_page = key.split("/")
        print(f"{window:>8} {per_page:>9} {value['count']:>10,} {value['ms']:>8.1f}")
    print("\nGET /api/v1/bans/export.csv (streamed, one child process each)")
    print(f"{'window':>8} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'MB':>7} "
          f"{'RSS before':>11} {'peak RSS':>9}")
    for e in (small, full):
        print(f"{e['window']:>8} {e['rows']:>10,} {e['seconds']:>8.1f} "
              f"{e['rows'] / max(e['seconds'], 1e-9):>9,.0f} {e['mb']:>7.1f} "
              f"{e['rss_before_mb']:>9.0f} MB {e['peak_rss_mb']:>6.0f} MB")


if __name__ == "__main__":
    main()
