"""Ban archive benchmark: sync and dashboard queries on a million bans.

    .venv/bin/python bench/archive.py [--backends sqlite,postgres] [--rows N]

Builds (once; cached in bench/data/, git-ignored) a fail2ban 1.0.2-format
sqlite database with N ban rows (default 1,000,000) over 365 days, 10 jails
and 200,000 distinct IPs. Then, for each backend, in a child process with
its own fresh database (a temp SQLite file, or a temp PostgreSQL database
on 127.0.0.1:5432 that is dropped afterwards):

- first full sync, the owner's ``sync_bans --backfill`` (indexes and, on
  SQLite, the rollup's triggers deferred; jails/archive/backfill.py;
  ``--first-sync plain``: a node's plain sync of the same history, rows
  only, one page per transaction), and an incremental (plain) sync of 1,000 new rows, both
  without the geo fill (timed separately on the 1,000 new rows; ``--sync-only --geo``:
  the first sync with it, as ``sync_bans --backfill`` runs by default);
- the dashboard query functions: ban_table first page per window, the
  chart functions for 365d (median of 5 runs), and SQL queries per call,
  all cold (the aggregate cache cleared before every run; only what the
  daily rollup cannot answer is cached at all);
- whole requests through Django's test client (logged in) while a sandboxed
  fail2ban holds --live-bans live bans over five jails (bench/crowd.py;
  the archive's newest IPs among them, so the "Now" column finds its
  live bans; a page timed with fail2ban down is not timed): the dashboard page
  and its HTMX table fragment per window, cold (caches cleared before each
  request) and the page warm (the rollup's whole-day sums from the
  one-minute cache, as most requests find them), and the SQL queries per
  render at 50 and 500 rows a page.

Prints one table. Targets: full sync <= 30 s (#29), incremental < 1 s, page and
fragment < 100 ms, charts < 300 ms for 365 days, queries per render constant.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
JAILS = ["sshd", "nginx-http-auth", "postfix", "dovecot", "recidive", "apache-auth",
         "nginx-botsearch", "vsftpd", "blocklist-import", "bangui-auth"]
DAY = 86400


def _schema() -> str:
    sys.path.insert(0, str(ROOT))
    from jails.tests.fail2ban_db import SCHEMA

    return SCHEMA


def build_db(path: Path, rows: int, ips: int = 200_000, days: int = 365,
             end: int | None = None) -> None:
    rng = random.Random(42)
    end = end or int(time.time())
    start = end - days * DAY
    pool = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
            f"{rng.randint(1, 254)}" for _ in range(ips)]
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.executescript(_schema())
    con.executemany("INSERT INTO jails(name) VALUES (?)", [(j,) for j in JAILS])
    times = sorted(rng.randrange(start, end) for _ in range(rows))  # insertion order

    def generate():
        for i, t in enumerate(times):
            ip = pool[i % ips] if i < ips else rng.choice(pool)  # every IP at least once
            jail = JAILS[rng.randrange(len(JAILS))]
            if jail == "blocklist-import" or rng.random() < 0.05:
                data = '{"matches": [], "failures": 0}'
            else:
                line = ("Nov 23 14:03:06 host sshd[1234]: Failed password for root from "
                        f"{ip} port 22 ssh2")
                data = json.dumps({"matches": [line, line, line], "failures": 3})
            yield jail, ip, t, 600, rng.choice((1, 1, 1, 2, 3)), data

    with con:
        con.executemany("INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) "
                        "VALUES (?, ?, ?, ?, ?, ?)", generate())
    con.close()
    tmp.rename(path)


def add_rows(path: Path, n: int, batch: int) -> None:
    """n new bans (as fail2ban appends them), public IPs unique per batch."""
    now = int(time.time())
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES (?,?,?,?,?,?)",
            [("sshd", f"{i % 200 + 1}.{i // 200 % 256}.{batch}.7", now - n + i, 600, 1,
              '{"matches": ["x"], "failures": 3}') for i in range(n)])
    con.close()


# --- child: one backend -------------------------------------------------------------
def child(backend: str, source: Path) -> dict:
    # Run as a script, bench/ is sys.path[0], and bench/geo.py would shadow
    # the geo app: import from the project root instead.
    here = Path(__file__).resolve().parent
    code = os.environ.get("BENCH_CODE") or str(ROOT)  # --code: another tree's app
    sys.path[:] = [code] + [p for p in sys.path if Path(p or ".").resolve() != here]
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    try:
        from jails.archive import backfill, rollup
        from jails.archive import queries as dashboard
        from jails.archive import sync as archive
    except ImportError:  # --code: a tree from before jails/archive/ (#29's "today",
        # cd6602b), whose sync deferred the indexes of a first sync itself
        from jails import archive, dashboard, rollup
        backfill = None

    call_command("migrate", verbosity=0)
    out: dict = {"backend": backend}
    work = Path(os.environ["BANGUI_DATA_DIR"]) / "fail2ban.sqlite3"
    shutil.copy(source, work)

    # How long each write transaction (a batch and its cursor) held the
    # archive: SQLite's write lock, which the web tier waits for.
    holds: list[float] = []
    real_store = archive._store_batch

    def store(*args, **kwargs):
        began = time.perf_counter()
        try:
            return real_store(*args, **kwargs)
        finally:
            holds.append(time.perf_counter() - began)

    archive._store_batch = store
    t = time.perf_counter()
    geo = bool(os.environ.get("BENCH_GEO"))  # --geo: countries too, as sync_bans does
    if os.environ.get("BENCH_FIRST_SYNC") == "plain" or backfill is None:
        # a node's: rows only, a page a write (or the old tree's own sync)
        result = archive.sync(str(work), fill_geo=geo)
    else:
        result = backfill.run(str(work), fill_geo=geo)  # sync_bans --backfill
    out["full_sync_s"] = time.perf_counter() - t
    out["full_sync_kind"] = os.environ.get("BENCH_FIRST_SYNC", "backfill")
    out["full_sync_rows"] = result.inserted
    archive._store_batch = real_store
    out["hold_max_s"], out["hold_median_s"] = max(holds), statistics.median(holds)
    out["hold_count"] = len(holds)

    add_rows(work, 1000, batch=1)
    t = time.perf_counter()
    result = archive.sync(str(work), fill_geo=False)
    out["incr_sync_s"] = time.perf_counter() - t
    out["incr_sync_rows"] = result.inserted

    add_rows(work, 1000, batch=2)
    t = time.perf_counter()
    result = archive.sync(str(work), fill_geo=True)
    out["incr_sync_geo_s"] = time.perf_counter() - t
    out["incr_sync_geo_rows"] = result.inserted
    if os.environ.get("BENCH_SYNC_ONLY"):
        return out

    # Countries for the chart queries (bench only: spread 19 codes over rows;
    # the rollup's triggers are off for this one bulk UPDATE and the rollup
    # is recounted after, as a backfill does).
    codes = "USCNRUDEBRINVNKRFRGBNLIDUATRPLJPITESIR"
    rollup.drop_triggers()
    with connection.cursor() as cur:
        cur.execute(f"UPDATE jails_banevent SET country_code = "  # noqa: S608
                    f"substr('{codes}', CAST((id % 19) * 2 + 1 AS INTEGER), 2)")
    t = time.perf_counter()
    rollup.install_triggers()
    out["rollup_rows"] = rollup.rebuild()
    out["rollup_rebuild_s"] = time.perf_counter() - t
    with connection.cursor() as cur:
        if backend == "sqlite":
            cur.execute("ANALYZE")
        else:
            cur.execute("VACUUM ANALYZE")

    def timed(fn, runs=5, cold=True):
        samples = []
        for _ in range(runs):
            if cold:
                cache.clear()
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    for window in ("24h", "7d", "30d", "365d"):
        out[f"ban_table_{window}_s"] = timed(lambda w=window: dashboard.ban_table(w))
        with CaptureQueriesContext(connection) as ctx:
            table = dashboard.ban_table(window)
        out[f"ban_table_{window}_queries"] = len(ctx.captured_queries)
        out[f"ban_table_{window}_total"] = table.paginator.count
    out["ban_table_365d_filtered_s"] = timed(
        lambda: dashboard.ban_table("365d", jail="sshd", country="DE", page=20))
    out["ban_table_365d_ip_s"] = timed(lambda: dashboard.ban_table("365d", ip_query="10.0."))
    out["bans_over_time_365d_s"] = timed(lambda: dashboard.bans_over_time("365d"))
    out["bans_over_time_24h_s"] = timed(lambda: dashboard.bans_over_time("24h"))
    out["top_countries_365d_s"] = timed(lambda: dashboard.top_countries("365d"))
    out["bans_by_jail_365d_s"] = timed(lambda: dashboard.bans_by_jail("365d"))
    out["bans_over_time_365d_filtered_s"] = timed(
        lambda: dashboard.bans_over_time("365d", jail="sshd", country="DE"))
    out["purge_noop_s"] = timed(lambda: archive.purge(366), runs=1)
    out.update(_pages(timed))
    return out


def _pages(timed) -> dict:
    """Server time of whole requests: the page and its table fragment."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import SetupCompletion

    SetupCompletion.objects.get_or_create(method="bench")
    web = Client(HTTP_HOST="localhost")
    web.force_login(User.objects.create_superuser("bench", password=None))
    fragment = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "ban-table"}
    out = {}

    def get(url, headers):
        response = web.get(url, **headers)
        assert response.status_code == 200, (url, response.status_code)
        return response

    for window in ("24h", "7d", "30d", "365d"):
        url = f"/?window={window}"
        get(url, {})  # warm up (templates, sessions)
        out[f"page_{window}_s"] = timed(lambda u=url: get(u, {}))
        out[f"fragment_{window}_s"] = timed(lambda u=url: get(u, fragment))
        out[f"page_warm_{window}_s"] = timed(lambda u=url: get(u, {}), cold=False)
        for per_page in (50, 500):
            with CaptureQueriesContext(connection) as ctx:
                get(f"{url}&per_page={per_page}", {})
            out[f"page_{window}_queries_{per_page}"] = len(ctx.captured_queries)
    return out


def run_backend(backend: str, source: Path, box, first_sync: str = "backfill",
                code: str | None = None, geo: bool = False) -> dict:
    """One backend's child; ``box`` None: --sync-only (no fail2ban, no
    dashboard); ``code``: the app from that tree (--code)."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bangui.settings",
               PYTHONPATH=code or str(ROOT), BENCH_FIRST_SYNC=first_sync)
    if box is None:
        env["BENCH_SYNC_ONLY"] = "1"
    else:
        env.update(BANGUI_FAIL2BAN_SOCKET=str(box.socket),
                   BANGUI_FAIL2BAN_CONFIG_DIR=str(box.confdir))
    if geo:
        env["BENCH_GEO"] = "1"
    if code:
        env["BENCH_CODE"] = code
    env.pop("DATABASE_URL", None)
    tmp = Path(tempfile.mkdtemp(prefix=f"bangui-bench-{backend}-"))
    env["BANGUI_DATA_DIR"] = str(tmp)
    dbname = None
    try:
        if backend == "postgres":
            import psycopg

            dbname = f"bangui_bench_{os.getpid()}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as con:
                con.execute(f'CREATE DATABASE "{dbname}"')
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{dbname}"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", backend, "--source", str(source)],
            env=env, cwd=code or ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{backend} run failed:\n{proc.stderr[-4000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        if code:
            out["backend"] += f" ({Path(code).name})"
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if dbname:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as con:
                con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def report(results: list[dict], rows: int, first_sync: str = "backfill") -> None:
    names = [r["backend"] for r in results]
    lines = [
        ("first full sync (--backfill, no geo)" if first_sync == "backfill"
         else "first full sync (plain, node's, no geo)", "full_sync_s", "s", "full_sync_rows"),
        ("incremental sync, 1,000 new rows", "incr_sync_s", "s", "incr_sync_rows"),
        ("incremental sync, 1,000 new rows + geo", "incr_sync_geo_s", "s",
         "incr_sync_geo_rows"),
        ("ban_table page 1, 24h", "ban_table_24h_s", "ms", "ban_table_24h_total"),
        ("ban_table page 1, 7d", "ban_table_7d_s", "ms", "ban_table_7d_total"),
        ("ban_table page 1, 30d", "ban_table_30d_s", "ms", "ban_table_30d_total"),
        ("ban_table page 1, 365d", "ban_table_365d_s", "ms", "ban_table_365d_total"),
        ("ban_table 365d jail+country, page 20", "ban_table_365d_filtered_s", "ms", None),
        ("ban_table 365d IP prefix search", "ban_table_365d_ip_s", "ms", None),
        ("bans_over_time 365d (weekly)", "bans_over_time_365d_s", "ms", None),
        ("bans_over_time 24h (hourly)", "bans_over_time_24h_s", "ms", None),
        ("top_countries 365d", "top_countries_365d_s", "ms", None),
        ("bans_by_jail 365d", "bans_by_jail_365d_s", "ms", None),
        ("bans_over_time 365d jail+country (archive)", "bans_over_time_365d_filtered_s", "ms",
         None),
        ("rollup rebuild (rows)", "rollup_rebuild_s", "s", "rollup_rows"),
        ("purge (nothing to delete)", "purge_noop_s", "ms", None),
    ] + [(f"GET /?window={w} page|fragment|warm page",
          (f"page_{w}_s", f"fragment_{w}_s", f"page_warm_{w}_s"), "ms", None)
         for w in ("24h", "7d", "30d", "365d")]
    print(f"\nBan archive bench: {rows:,} fail2ban rows, 365 days, 10 jails, 200,000 IPs")
    print(f"{'':42}" + "".join(f"{n:>26}" for n in names))
    for label, key, unit, extra in lines:
        cells = []
        for r in results:
            if isinstance(key, tuple):  # page | fragment
                cells.append(" | ".join(f"{r[k] * 1000:,.1f}" for k in key) + " ms")
                continue
            v = r[key] * (1000 if unit == "ms" else 1)
            cell = f"{v:,.1f} {unit}" if unit == "ms" else f"{v:,.2f} {unit}"
            if extra:
                cell += f" ({r[extra]:,})"
            cells.append(cell)
        print(f"{label:42}" + "".join(f"{c:>26}" for c in cells))
    q = " / ".join(f"{r['backend']}: " + ",".join(str(r[f'ban_table_{w}_queries'])
                                                   for w in ("24h", "7d", "30d", "365d"))
                   for r in results)
    print(f"{'SQL queries per ban_table call, warm':42} {q}")
    for per_page in (50, 500):
        q = " / ".join(f"{r['backend']}: " + ",".join(
            str(r[f"page_{w}_queries_{per_page}"]) for w in ("24h", "7d", "30d", "365d"))
            for r in results)
        print(f"{f'SQL queries per page render, {per_page} rows':42} {q}")
    print("(median of 5 runs, cold unless 'warm'; counts in parentheses: rows)")


def report_syncs(results: list[dict], rows: int, first_sync: str, geo: bool = False) -> None:
    """--sync-only: one line per backend (and code tree)."""
    print(f"\nArchive sync bench: {rows:,} fail2ban rows, first sync "
          f"{'--backfill' if first_sync == 'backfill' else 'plain (a node: rows only)'}, "
          f"{'with the geo fill (200,000 addresses)' if geo else 'no geo'}")
    print(f"{'':28}{'first sync':>22}{'write transactions: max | median hold':>42}"
          f"{'+1,000 rows':>14}{'+1,000 + geo':>14}")
    for r in results:
        print(f"{r['backend']:28}{r['full_sync_s']:>12.2f} s ({r['full_sync_rows']:,})"
              f"{r['hold_max_s']:>20.3f} | {r['hold_median_s']:.3f} s ({r['hold_count']:,})"
              f"{r['incr_sync_s']:>12.2f} s{r['incr_sync_geo_s']:>12.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--live-bans", type=int, default=50_000)
    parser.add_argument("--first-sync", choices=("backfill", "plain"), default="backfill",
                        help="the first full sync: the owner's sync_bans --backfill, or a "
                             "node's plain sync (rows only, one page per transaction)")
    parser.add_argument("--sync-only", action="store_true",
                        help="time the syncs only (first, incremental), each write "
                             "transaction's hold too; no fail2ban, no dashboard")
    parser.add_argument("--code", default="",
                        help="comma-separated app trees to run each backend with, in turn "
                             "(e.g. an unpacked 'git archive HEAD' beside this tree: before "
                             "and after in one run); default this tree")
    parser.add_argument("--geo", action="store_true",
                        help="with --sync-only: the first sync fills countries too, as "
                             "sync_bans --backfill does unless given --no-geo")
    parser.add_argument("--child")
    parser.add_argument("--source")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.source))))
        return
    DATA.mkdir(parents=True, exist_ok=True)
    source = DATA / f"fail2ban-{args.rows}.sqlite3"
    # Rebuild when stale: the windows are relative to now.
    if not source.exists() or time.time() - source.stat().st_mtime > 6 * 3600:
        t = time.perf_counter()
        build_db(source, args.rows)
        print(f"built {source} in {time.perf_counter() - t:.1f} s "
              f"({source.stat().st_size / 1e6:.0f} MB)", flush=True)
    if args.sync_only:
        results = []
        for backend in args.backends.split(","):
            for code in [str(Path(c).resolve()) for c in args.code.split(",") if c] or [None]:
                print(f"running {backend} {code or ''}...", flush=True)
                results.append(run_backend(backend, source, None, args.first_sync, code,
                                           geo=args.geo))
        report_syncs(results, args.rows, args.first_sync, geo=args.geo)
        return
    sys.path.insert(0, str(ROOT))
    from bench import crowd

    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-archive-f2b-"))
    box = crowd.sandbox(tmp)
    box.start()
    try:
        held = crowd.fill(box, args.live_bans, first=_newest(source))
        print(f"fail2ban holds {held:,} live bans over {len(crowd.CROWD_JAILS)} jails",
              flush=True)
        results = []
        for backend in args.backends.split(","):
            print(f"running {backend} ...", flush=True)
            results.append(run_backend(backend, source, box, args.first_sync))
    finally:
        box.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, args.rows, args.first_sync)


def _newest(source: Path) -> dict[str, list[str]]:
    """The newest IPs of each crowd jail in the fail2ban database the
    archive is synced from: the dashboard's first page finds them live."""
    from bench import crowd

    con = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        return {jail: [ip for (ip,) in con.execute(
            "SELECT ip FROM bans WHERE jail = ? ORDER BY timeofban DESC LIMIT 500", [jail])]
            for jail in crowd.CROWD_JAILS}
    finally:
        con.close()


if __name__ == "__main__":
    main()
