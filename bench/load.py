"""Issue #29's targets, before and after, in one run: real gunicorn over a
million archived bans and a live fail2ban holding 50,000 bans over 5 jails.

    .venv/bin/python bench/load.py [--rows 1000000] [--live-bans 50000]
                                   [--backends sqlite,postgres] [--sequential 15]
                                   [--spike-minutes 10] [--load-seconds 120] [--threads 8]
                                   [--before-rev bd774de] [--sqlite-dir DIR]
                                   [--old-way-rows 1000000]
    .venv/bin/python bench/load.py --profile DIR [--rows N] [--sequential 9]

For each backend, a throwaway BanGUI: its own data dir (temp), its own
database (a SQLite file there, or a temp PostgreSQL database on the server of
--postgres-url, dropped afterwards; ``--sqlite-dir`` reuses the SQLite
database a ``--profile DIR`` run filled), ``manage.py setup`` against a
sandboxed fail2ban-server that stays up for the whole run (bench/crowd.py:
sshd and nginx-http-auth with dummy actions, five action-less jails named
like the archive's), --rows BanEvent rows over 365 days (bench/map.py's
``fill``, rows oldest first, which also counts the daily rollup; ANALYZE
afterwards, VACUUM ANALYZE on PostgreSQL) and
--live-bans live bans (the archive's newest IPs of each crowd jail among
them, so the dashboard's rows find live bans).

"Before" is the project at --before-rev, unpacked with ``git archive`` into
the temp dir and served by its own gunicorn on the same database; "after"
is this tree. Three phases, each printed against its #29 target:

1. one client, 2 workers per side, every page --sequential times per side,
   before and after in turn (the machine's noise falls on both): p50;
2. one client cycling over every page for --spike-minutes, both sides in
   turn (the minute-long caches expire and refill meanwhile): the slowest
   request against the p50 of each page;
3. --threads clients on 4 workers, the dashboard, --load-seconds per side
   in 15-second slices taking turns: req/s, p50, p99, errors.

Also in the same run: ``fail2ban-client status <jail>`` for the jail page's
jail, and "the old way" -- count, first page and group-by-IP over fail2ban's
own ``bans`` table for 365 days with --old-way-rows rows (bench/archive.py's
database) -- against the dashboard 365d. Loopback only: the target is always
127.0.0.1.

``--profile DIR``: the per-request breakdown instead (SQLite, or PostgreSQL
with ``--profile-database postgres``; in process,
Django's test client, the database kept in DIR): per page the cold request
(Django's cache cleared) and the warm p50, split into SQL (count, time),
template (the outer render, its SQL taken out) and the rest (view,
middleware, the fail2ban socket); then cProfile's heaviest functions.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import importlib.util
import json
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import crowd  # noqa: E402 (needs the project root on the path)

PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
PASSWORD = "load bench password 42"  # noqa: S105 (a throwaway admin)
CROWD_JAIL = "postfix"  # the jail page timed: a fifth of the live bans
BEFORE_REV = "bd774de"  # the code before issue #29's work: the "before" of every ratio


def pages(ip: str) -> list[tuple[str, str, dict]]:
    return [
        ("dashboard 24h", "/", {}),
        ("dashboard 365d", "/?window=365d", {}),
        ("ban table fragment", "/?window=365d&page=2", {"HX-Request": "true"}),
        ("IP page", f"/ip/{ip}/", {}),
        ("world map 365d", "/map/?window=365d", {}),
        (f"jail page {CROWD_JAIL}", f"/jails/{CROWD_JAIL}/", {}),
        ("jails list", "/jails/", {}),
        ("status bar", "/status/", {}),
    ]


# --- child: fill the database (runs with the server's environment) -------------------
def _fill_child(rows: int) -> None:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from datetime import UTC, datetime

    from django.db import connection

    spec = importlib.util.spec_from_file_location("bench_map", ROOT / "bench" / "map.py")
    bench_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_map)
    start = time.perf_counter()
    bench_map.fill(rows, min(200_000, max(rows // 5, 1)), datetime.now(UTC))
    with connection.cursor() as cur:
        # PostgreSQL: VACUUM too, as autovacuum would have after a year of
        # rows (this machine's server runs with it off): without a
        # visibility map no index-only scan is chosen.
        cur.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    print(f"    filled {rows:,} bans in {time.perf_counter() - start:.0f} s", flush=True)
    from jails.models import BanEvent

    newest = {jail: list(BanEvent.objects.filter(jail=jail).order_by("-banned_at")
                         .values_list("ip", flat=True)[:500]) for jail in crowd.CROWD_JAILS}
    print(json.dumps(newest), flush=True)


def _hour_child(n: int) -> None:
    """``--hour-bans``: ``n`` bans stamped in the last 30 s, as a big
    blocklist import leaves them (the rollup's triggers count them too)."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.utils import timezone

    from jails.constants import Origin
    from jails.models import BanEvent, ip_sort_key

    now = timezone.now()
    ips = [f"100.{64 + i // 65536 % 64}.{i // 256 % 256}.{i % 256}" for i in range(n)]
    BanEvent.objects.bulk_create(
        (BanEvent(ip=ip, ip_key=ip_sort_key(ip), jail=crowd.CROWD_JAILS[0],
                  origin=Origin.BLOCKLIST, banned_at=now - timedelta(seconds=30 * i / n),
                  bantime=86400) for i, ip in enumerate(ips)), batch_size=5000)
    print(f"    added {n:,} bans stamped in the last 30 s (this hour: {now:%H}:00 UTC)",
          flush=True)


# --- child: a per-request profile (in-process, Django's test client) -------------------
def _profile_child(runs: int, ip: str, top: int, sort: str = "tottime",
                   only: str = "", list_sql: bool = False) -> None:
    """Per page: wall time, SQL (count, time), template time (the outer
    render, its own SQL taken out), the rest (Python: view, middleware,
    fail2ban's socket), warm (p50 of ``runs``) and cold (caches cleared);
    then cProfile's heaviest functions over ``runs`` more requests, and with
    ``list_sql`` the statements of the median request, each with its time."""
    import cProfile
    import io
    import pstats

    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.template.backends.django import Template as BackendTemplate
    from django.test import Client

    from bangui import warm

    warm.worker()  # as gunicorn's workers start (bangui/wsgi.py)
    web = Client(HTTP_HOST="localhost")
    web.force_login(User.objects.get(username="admin"))
    state = {"sql_n": 0, "sql_ms": 0.0, "tpl_ms": 0.0, "tpl_sql_ms": 0.0, "depth": 0,
             "statements": [], "gc_ms": 0.0, "gc_start": 0.0}

    def timed_gc(phase, info):  # the collector's passes inside a request
        if phase == "start":
            state["gc_start"] = time.perf_counter()
        else:
            state["gc_ms"] += (time.perf_counter() - state["gc_start"]) * 1000

    gc.callbacks.append(timed_gc)

    def timed_sql(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - start) * 1000
            state["statements"].append((ms, " ".join(sql.split())))
            state["sql_n"] += 1
            state["sql_ms"] += ms
            if state["depth"]:
                state["tpl_sql_ms"] += ms

    render = BackendTemplate.render

    def timed_render(self, *a, **k):
        state["depth"] += 1
        start = time.perf_counter()
        try:
            return render(self, *a, **k)
        finally:
            state["depth"] -= 1
            if not state["depth"]:
                state["tpl_ms"] += (time.perf_counter() - start) * 1000

    BackendTemplate.render = timed_render

    def one(path: str, headers: dict) -> dict:
        for key in ("sql_n", "sql_ms", "tpl_ms", "tpl_sql_ms", "gc_ms"):
            state[key] = 0
        state["statements"] = []
        start = time.perf_counter()
        response = web.get(path, **headers)
        total = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            sys.exit(f"{path}: HTTP {response.status_code}")
        return {"total": total, "sql_n": state["sql_n"], "sql_ms": state["sql_ms"],
                "tpl_ms": state["tpl_ms"] - state["tpl_sql_ms"],
                "kib": len(response.content) / 1024, "statements": state["statements"],
                "gc_ms": state["gc_ms"]}

    print("| page | cold ms | p50 ms | SQL n | SQL ms | template ms | other ms | GC ms (mean) "
          "| KiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    profiles = []
    def meta(hdr: dict) -> dict:
        return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in hdr.items()}

    chosen = [page for page in pages(ip) if only in page[0]]
    for _label, path, hdr in chosen:  # the process's own first time (imports, templates)
        web.get(path, **meta(hdr))
    with connection.execute_wrapper(timed_sql):
        for label, path, hdr in chosen:
            headers = meta(hdr)
            cache.clear()
            cold = one(path, headers)
            samples = sorted((one(path, headers) for _ in range(runs)),
                             key=lambda s: s["total"])
            mid = samples[len(samples) // 2]
            gc_mean = sum(s["gc_ms"] for s in samples) / len(samples)
            print(f"| {label} | {cold['total']:.1f} | {mid['total']:.1f} | {mid['sql_n']} | "
                  f"{mid['sql_ms']:.1f} | {mid['tpl_ms']:.1f} | "
                  f"{mid['total'] - mid['sql_ms'] - mid['tpl_ms']:.1f} | {gc_mean:.2f} | "
                  f"{mid['kib']:.0f} |", flush=True)
            if list_sql:
                profiles.append((f"{label}: the median request's {mid['sql_n']} statements",
                                 "\n".join(f"{ms:7.2f} ms  {text[:160]}"
                                           for ms, text in mid["statements"])))
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(runs):
                web.get(path, **headers)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(sort).print_stats(top)
            by = "own time" if sort == "tottime" else sort
            profiles.append((f"{label}: cProfile, {runs} requests, top {top} by {by}",
                             out.getvalue()))
    for title, text in profiles:
        body = text[text.find("ncalls"):] if "ncalls" in text else text
        print(f"\n#### {title}\n{body}")


# --- parent -----------------------------------------------------------------------------
def manage(env: dict, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def postgres_database(admin_url: str):
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(admin_url)
    name = f"bangui_load_{secrets.token_hex(4)}"
    admin = make_conninfo(**{**info, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                        .format(sql.Identifier(name)))


@contextmanager
def gunicorn(env: dict, workers: int, logdir: Path, code: Path = ROOT):
    """gunicorn serving the project in ``code`` (this tree, or the "before"
    tree unpacked from git) on a free loopback port."""
    errors = logdir / f"gunicorn-{secrets.token_hex(4)}.log"
    proc = subprocess.Popen(
        [GUNICORN, "bangui.wsgi", "--workers", str(workers), "--bind", "127.0.0.1:0",
         "--error-logfile", str(errors), "--graceful-timeout", "5", "--timeout", "120"],
        cwd=code, env={**env, "PYTHONPATH": str(code)}, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gunicorn did not start:\n{errors.read_text()}")
            text = errors.read_text() if errors.exists() else ""
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if found and text.count("Booting worker") >= workers:
                port = int(found.group(1))
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def request(port: int, path: str, headers: dict, method: str = "GET",
            body: str | None = None) -> http.client.HTTPResponse:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    con.request(method, path, body=body, headers={"Connection": "close", **headers})
    response = con.getresponse()
    response.body = response.read()
    con.close()
    return response


def login(port: int) -> str:
    page = request(port, "/login/", {})
    csrf = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie")).group(1)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    from urllib.parse import urlencode

    body = urlencode({"username": "admin", "password": PASSWORD,
                      "csrfmiddlewaretoken": token.decode()})
    response = request(port, "/login/", {
        "Cookie": f"csrftoken={csrf}", "Content-Type": "application/x-www-form-urlencoded",
        "Referer": f"http://127.0.0.1:{port}/login/"}, "POST", body)
    assert response.status == 302, response.body[:300]
    session = re.search(r"sessionid=([^;]+)", ",".join(
        v for k, v in response.getheaders() if k.lower() == "set-cookie")).group(1)
    return f"csrftoken={csrf}; sessionid={session}"


LOAD_SLICE = 15  # seconds of load on one side before the other side's turn


def _merged(parts: list[dict]) -> dict:
    latencies = sorted(ms for part in parts for ms in part["latencies"])
    wall = sum(part["wall"] for part in parts)
    return {"n": len(latencies), "rps": len(latencies) / wall,
            "errors": sum(part["errors"] for part in parts),
            "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def hammer(port: int, path: str, headers: dict, total: int, threads: int,
           seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    issued = 0
    deadline = time.monotonic() + seconds

    def run():
        nonlocal issued, errors
        while True:
            with lock:
                if issued >= total or time.monotonic() > deadline:
                    return
                issued += 1
            start = time.perf_counter()
            try:
                ok = request(port, path, headers).status == 200
            except OSError:
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors += not ok

    start = time.perf_counter()
    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {"n": len(latencies), "rps": len(latencies) / wall, "errors": errors,
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "latencies": [ms * 1000 for ms in latencies], "wall": wall}


def sequential(port: int, path: str, headers: dict, n: int) -> float:
    """p50 of ``n`` requests in a row from one client, in ms."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = request(port, path, headers)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            sys.exit(f"{path}: HTTP {response.status}")
    return statistics.median(samples)


def cli_status_ms(sandbox, jail: str, runs: int = 5) -> float:
    cli = [sandbox.client_binary, "-s", str(sandbox.socket), "status", jail]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cli, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def unpack(rev: str, into: Path, revert: list[str] = ()) -> Path:
    """The project as it was at ``rev`` (``git archive``; no worktree, no
    change to the repository), with the changes of the ``revert`` commits
    taken back out (their non-test files, newest first): the "before" side
    of every ratio. ``--before-rev HEAD --before-revert A,B`` measures A and
    B alone, with every other commit on both sides."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for commit in revert:
        diff = subprocess.run(["git", "-C", str(ROOT), "show", "--format=", commit, "--",
                               ".", ":!bench", ":!docs", ":!*/tests/*"],
                              capture_output=True, check=True).stdout
        subprocess.run(["git", "apply", "-R", "--unsafe-paths", f"--directory={into}"],
                       input=diff, check=True, cwd="/")
    return into


def alternated(ports: dict[str, int], cookies: dict[str, str], path: str, headers: dict,
               n: int) -> dict[str, list]:
    """``n`` requests per side, one client, before and after in turn (the
    machine's noise falls on both): latencies in ms per side."""
    samples: dict[str, list] = {side: [] for side in ports}
    for _ in range(n):
        for side, port in ports.items():
            start = time.perf_counter()
            response = request(port, path, {"Cookie": cookies[side], **headers})
            samples[side].append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                sys.exit(f"{side} {path}: HTTP {response.status}")
    return samples


def run_backend(backend: str, args, sandbox, tmp: Path, before: Path) -> dict:
    print(f"== {backend}: preparing {args.rows:,} bans", flush=True)
    data = tmp / backend
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
           "BANGUI_DATA_DIR": str(data), "BANGUI_LOG_LEVEL": "WARNING",
           "BANGUI_FAIL2BAN_SOCKET": str(sandbox.socket),
           "BANGUI_FAIL2BAN_CONFIG_DIR": str(sandbox.confdir),
           "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": ""}
    codes = {"before": before, "after": ROOT}
    out = {"p50": {}, "spike": {}, "load": {}, "cli": None, "held": 0}
    with ExitStack() as stack:
        if backend == "postgres":
            env["DATABASE_URL"] = stack.enter_context(postgres_database(args.postgres_url))
        elif args.sqlite_dir:  # a database filled by an earlier run (--profile DIR)
            env["BANGUI_DATA_DIR"] = str(Path(args.sqlite_dir).resolve() / "sqlite")
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        newest_file = Path(env["BANGUI_DATA_DIR"]) / "newest.json"
        if backend == "postgres" or not newest_file.exists():
            manage(env, "setup", "--username", "admin", "--password-file", "-",
                   "--socket", str(sandbox.socket), stdin=PASSWORD + "\n")
            done = subprocess.run([PY, __file__, "--fill-child", str(args.rows)], cwd=ROOT,
                                  env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"filling the database failed:\n{done.stderr[-3000:]}")
            print(done.stdout.splitlines()[0], flush=True)
            newest_file.write_text(done.stdout.strip().splitlines()[-1])
        else:  # the kept database's admin logs in with this run's socket
            manage(env, "shell", "-c", "from accounts.models import RuntimeSettings as R; "
                   f"R.objects.filter(pk=1).update(fail2ban_socket={str(sandbox.socket)!r})")
        newest = json.loads(newest_file.read_text())
        ip = newest[CROWD_JAIL][0]
        crowd.empty(sandbox)
        out["held"] = crowd.fill(sandbox, args.live_bans, first=newest)
        out["cli"] = cli_status_ms(sandbox, CROWD_JAIL)
        # one client, 2 workers each side, before and after in turn
        with gunicorn(env, 2, tmp, codes["before"]) as b, gunicorn(env, 2, tmp, ROOT) as a:
            ports = {"before": b, "after": a}
            cookies = {side: login(port) for side, port in ports.items()}
            for label, path, headers in pages(ip):
                for side, port in ports.items():
                    for _ in range(6):
                        request(port, path, {"Cookie": cookies[side], **headers})
                samples = alternated(ports, cookies, path, headers, args.sequential)
                out["p50"][label] = {side: statistics.median(v) for side, v in samples.items()}
                print(f"   {backend:<8} {label:<22} p50 before {out['p50'][label]['before']:7.1f}"
                      f" ms  after {out['p50'][label]['after']:7.1f} ms", flush=True)
            # the cold spike: one client cycling over every page for --spike-minutes
            # (the minute-long caches expire several times), before and after in turn
            spike = {side: {label: [] for label, _p, _h in pages(ip)} for side in ports}
            deadline = time.monotonic() + args.spike_minutes * 60
            while time.monotonic() < deadline:
                for label, path, headers in pages(ip):
                    for side, v in alternated(ports, cookies, path, headers, 1).items():
                        spike[side][label] += v
            out["spike"] = spike
        # 8 clients on 4 workers, the dashboard, --load-seconds per side, in slices
        # of 15 s taking turns (both servers up, only one loaded at a time): the
        # machine's other load falls on both sides alike
        with gunicorn(env, 4, tmp, codes["before"]) as b, gunicorn(env, 4, tmp, ROOT) as a:
            ports = {"before": b, "after": a}
            cookies = {side: login(port) for side, port in ports.items()}
            for side, port in ports.items():
                for _ in range(12):
                    request(port, "/", {"Cookie": cookies[side]})
            runs: dict[str, list] = {side: [] for side in ports}
            slices = max(1, round(args.load_seconds / LOAD_SLICE))
            for _ in range(slices):
                for side, port in ports.items():
                    runs[side].append(hammer(port, "/", {"Cookie": cookies[side]}, 100_000,
                                             args.threads, args.load_seconds / slices))
            for side, parts in runs.items():
                r = _merged(parts)
                out["load"][side] = r
                print(f"   {backend:<8} {side:<6} dashboard 24h, {args.threads} clients, "
                      f"4 workers: {r['rps']:.1f} req/s p50 {r['p50']:.0f} ms "
                      f"p99 {r['p99']:.0f} ms n={r['n']} errors={r['errors']}", flush=True)
    return out


def old_way_ms(rows: int, runs: int = 5) -> tuple[float, int]:
    """The design BanGUI replaced: the 365d dashboard read straight from
    fail2ban's ``bans`` table (count, first page, bans grouped by IP)."""
    spec = importlib.util.spec_from_file_location("bench_archive", ROOT / "bench" / "archive.py")
    bench_archive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_archive)
    path = bench_archive.DATA / f"fail2ban-{rows}.sqlite3"
    if not path.exists() or time.time() - path.stat().st_mtime > 6 * 3600:  # windows move
        print(f"   building a {rows:,}-row fail2ban database (once, cached in bench/data/)",
              flush=True)
        path.parent.mkdir(exist_ok=True)
        bench_archive.build_db(path, rows)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    since = int(time.time()) - 365 * 86400
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        total = con.execute("SELECT COUNT(*) FROM bans WHERE timeofban >= ?", [since]).fetchone()
        con.execute("SELECT jail, ip, timeofban, bantime, bancount, data FROM bans "
                    "WHERE timeofban >= ? ORDER BY timeofban DESC LIMIT 50", [since]).fetchall()
        con.execute("SELECT ip, COUNT(*), MAX(timeofban) FROM bans WHERE timeofban >= ? "
                    "GROUP BY ip ORDER BY 3 DESC LIMIT 50", [since]).fetchall()
        samples.append((time.perf_counter() - start) * 1000)
    con.close()
    return statistics.median(samples), total[0]


TARGET_P50 = {"sqlite": 25.0, "postgres": 40.0}  # ms, issue #29
TARGET_P99 = 150.0
TARGET_SPIKE = 3.0
TARGET_OLD_WAY = 100.0
TARGET_PAGES = ("dashboard 24h", "dashboard 365d", "ban table fragment", "IP page",
                "world map 365d", f"jail page {CROWD_JAIL}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(backend: str, out: dict, args, old: tuple[float, int]) -> None:
    reverted = f" without {args.before_revert}" if args.before_revert else ""
    print(f"\n### {backend}: {args.rows:,} archived bans, {out['held']:,} live bans "
          f"(#29 targets; before = {args.before_rev}{reverted}, after = this tree)")
    target = TARGET_P50[backend]
    print(f"\nOne client, 2 workers each, {args.sequential} requests per page and side, "
          "before and after in turn:\n")
    print(f"| page | p50 before ms | p50 after ms | before / after | target ≤ {target:.0f} ms |")
    print("|---|---:|---:|---:|---|")
    for label, sides in out["p50"].items():
        mark = _verdict(sides["after"] <= target) if label in TARGET_PAGES else "(not a target)"
        print(f"| {label} | {sides['before']:.1f} | {sides['after']:.1f} | "
              f"{sides['before'] / sides['after']:.2f}x | {mark} |")
    print(f"\nThe slowest request vs the p50, one client cycling over every page for "
          f"{args.spike_minutes:g} min (before and after in turn):\n")
    print("| page | n | before p50 / max ms | after p50 / max ms | after max / p50 | "
          f"target ≤ {TARGET_SPIKE:g}x |")
    print("|---|---:|---:|---:|---:|---|")
    for label in out["spike"]["after"]:
        row = []
        for side in ("before", "after"):
            v = sorted(out["spike"][side][label])
            row.append((statistics.median(v), v[-1], len(v)) if v else (0, 0, 0))
        ratio = row[1][1] / row[1][0] if row[1][0] else 0
        mark = _verdict(ratio <= TARGET_SPIKE) if label in TARGET_PAGES else "(not a target)"
        print(f"| {label} | {row[1][2]} | {row[0][0]:.1f} / {row[0][1]:.0f} | "
              f"{row[1][0]:.1f} / {row[1][1]:.0f} | {ratio:.1f}x | {mark} |")
    print(f"\n{args.threads} clients, 4 workers, dashboard 24h, {args.load_seconds:g} s per side "
          f"in {LOAD_SLICE}-s slices taking turns (new connection per request):\n")
    print(f"| side | req/s | p50 ms | p99 ms | n | errors | target p99 ≤ {TARGET_P99:.0f} ms |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for side, r in out["load"].items():
        mark = _verdict(r["p99"] <= TARGET_P99 and not r["errors"]) if side == "after" else ""
        print(f"| {side} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} | {r['n']} | "
              f"{r['errors']} | {mark} |")
    if r := out["load"].get("before"):
        a = out["load"]["after"]
        print(f"(p99 before / after: {r['p99'] / a['p99']:.2f}x; req/s after / before: "
              f"{a['rps'] / r['rps']:.2f}x)")
    dash = out["p50"].get("dashboard 365d")
    if dash:
        ratio = old[0] / dash["after"]
        print(f"\nold way (count + first page + group by IP over fail2ban's bans, 365 d, "
              f"{old[1]:,} rows): {old[0]:.0f} ms; dashboard 365d p50 after "
              f"{dash['after']:.1f} ms: {ratio:.0f}x (before: {old[0] / dash['before']:.0f}x); "
              f"target ≥ {TARGET_OLD_WAY:.0f}x: {_verdict(ratio >= TARGET_OLD_WAY)}")
    print(f"fail2ban-client status {CROWD_JAIL}: {out['cli']:.0f} ms")


def profile(args) -> None:
    """``--profile DIR``: the per-request breakdown on SQLite (or PostgreSQL), in process.
    DIR keeps the filled database and the sandbox between runs (built once)."""
    root = Path(args.profile).resolve()
    root.mkdir(parents=True, exist_ok=True)
    sandbox = crowd.sandbox(root / "f2b")
    sandbox.start()
    postgres = args.profile_database == "postgres"
    data = root / ("postgres" if postgres else "sqlite")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
           "BANGUI_DATA_DIR": str(data), "BANGUI_LOG_LEVEL": "WARNING",
           "BANGUI_FAIL2BAN_SOCKET": str(sandbox.socket),
           "BANGUI_FAIL2BAN_CONFIG_DIR": str(sandbox.confdir),
           "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": ""}
    try:
        newest_file = data / "newest.json"
        if postgres:
            # A database kept between runs, as DIR keeps the SQLite file;
            # made again when no run finished filling it.
            env["DATABASE_URL"] = _kept_postgres(args.postgres_url,
                                                 fresh=not newest_file.exists())
        if not newest_file.exists():
            manage(env, "migrate", "--noinput", "-v", "0")
            manage(env, "setup", "--username", "admin", "--password-file", "-",
                   "--socket", str(sandbox.socket), stdin=PASSWORD + "\n")
            done = subprocess.run([PY, __file__, "--fill-child", str(args.rows)], cwd=ROOT,
                                  env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"filling the database failed:\n{done.stderr[-3000:]}")
            print(done.stdout.splitlines()[0], flush=True)
            newest_file.write_text(done.stdout.strip().splitlines()[-1])
        else:
            manage(env, "migrate", "--noinput", "-v", "0")
        if args.hour_bans:
            subprocess.run([PY, __file__, "--hour-child", str(args.hour_bans)], cwd=ROOT,
                           env=env, check=True)
        newest = json.loads(newest_file.read_text())
        crowd.empty(sandbox)
        held = crowd.fill(sandbox, args.live_bans, first=newest)
        print(f"{'PostgreSQL' if postgres else 'SQLite'}, {args.rows:,} archived bans, "
              f"{held:,} live; in process "
              f"(Django's test client), one request at a time", flush=True)
        subprocess.run([PY, __file__, "--profile-child", newest[CROWD_JAIL][0],
                        "--sequential", str(args.sequential), "--profile-sort",
                        args.profile_sort, "--profile-top", str(args.profile_top),
                        "--profile-page", args.profile_page,
                        *(["--profile-sql"] if args.profile_sql else [])],
                       cwd=ROOT, env=env, check=True)
    finally:
        sandbox.stop()


def _kept_postgres(admin_url: str, *, fresh: bool) -> str:
    """``--profile-database postgres``: the URL of ``bangui_profile`` on the
    server of ``admin_url``, created when missing (dropped first if
    ``fresh``)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = "bangui_profile"
    admin = make_conninfo(**{**conninfo_to_dict(admin_url), "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as con:
        if fresh:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                        .format(sql.Identifier(name)))
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _tree(pid: int) -> list[tuple[int, int, int]]:
    """``pid`` and every process below it: (pid, parent, depth)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    tree, todo = [], [(pid, 0, 0)]
    while todo:
        current, parent, depth = todo.pop()
        tree.append((current, parent, depth))
        todo += [(child, current, depth + 1) for child, up in sorted(parents.items())
                 if up == current]
    return tree


def _smaps_kib(pid: int) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` in KiB: Pss, Rss, Private_*, Shared_* (empty
    once the process is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def _pss_kib(pid: int) -> int:
    return _smaps_kib(pid).get("Pss", 0)


def _role(pid: int, depth: int) -> str:
    """The process's name (``/proc/PID/comm``: the node's qcluster names its
    processes, nodes.worker.name_process), else its place in the tree."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = ""
    if comm and not comm.startswith("python"):
        return comm
    return ("main", "lane sentinel", "lane child")[min(depth, 2)] + " (unnamed)"


def _breakdown(tree: list[tuple[int, int, int]]) -> list[str]:
    """One line per process: PSS, private, shared, RSS (MiB)."""
    lines = [f"   {'pid':>7} {'parent':>7}  {'process':<26} {'PSS':>6} {'private':>8} "
             f"{'shared':>7} {'RSS':>6}  (MiB)"]
    total = {"Pss": 0, "Private": 0, "Shared": 0, "Rss": 0}
    for pid, parent, depth in tree:
        m = _smaps_kib(pid)
        if not m:
            continue
        private = m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)
        shared = m.get("Shared_Clean", 0) + m.get("Shared_Dirty", 0)
        for key, value in (("Pss", m.get("Pss", 0)), ("Private", private),
                           ("Shared", shared), ("Rss", m.get("Rss", 0))):
            total[key] += value
        lines.append(f"   {pid:>7} {parent:>7}  {'  ' * depth + _role(pid, depth):<26} "
                     f"{m.get('Pss', 0) / 1024:6.1f} {private / 1024:8.1f} "
                     f"{shared / 1024:7.1f} {m.get('Rss', 0) / 1024:6.1f}")
    lines.append(f"   {'':>7} {'':>7}  {'all':<26} {total['Pss'] / 1024:6.1f} "
                 f"{total['Private'] / 1024:8.1f} {'':>7} {total['Rss'] / 1024:6.1f}")
    return lines


def _node_pss_fill(env: dict, data: Path, sandbox, rows: int) -> None:
    """A DIR no ``--profile`` run filled yet: the same database (setup, the
    archive of --rows bans), made here."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "setup", "--username", "admin", "--password-file", "-",
           "--socket", str(sandbox.socket), stdin=PASSWORD + "\n")
    done = subprocess.run([PY, __file__, "--fill-child", str(rows)], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"filling the database failed:\n{done.stderr[-3000:]}")
    print(done.stdout.splitlines()[0], flush=True)
    (data / "newest.json").write_text(done.stdout.strip().splitlines()[-1])


def node_pss(args) -> None:
    """``--node-pss DIR``: a node's task cluster (``manage.py qcluster``, its
    ticks and schedules) on the database a ``--profile DIR`` run filled (or
    fills it the same way first), with --live-bans live bans in fail2ban;
    the PSS of its process tree (from ``/proc/*/smaps_rollup``: forked
    processes share pages) every 30 s for --pss-minutes, then each
    process's PSS, private and shared memory, and the largest PSS each
    process reached. Note: the node's worker syncs the live bans into the
    archive of DIR's database (all in the current hour)."""
    root = Path(args.node_pss).resolve()
    root.mkdir(parents=True, exist_ok=True)
    sandbox = crowd.sandbox(root / "f2b")
    sandbox.start()
    data = root / "sqlite"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
           "BANGUI_DATA_DIR": str(data), "BANGUI_LOG_LEVEL": "WARNING",
           "BANGUI_FAIL2BAN_SOCKET": str(sandbox.socket),
           "BANGUI_FAIL2BAN_CONFIG_DIR": str(sandbox.confdir),
           "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": ""}
    proc = None
    try:
        if not (data / "newest.json").exists():
            _node_pss_fill(env, data, sandbox, args.rows)
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "shell", "-c", "from accounts.models import RuntimeSettings as R; "
               f"R.objects.filter(pk=1).update(fail2ban_socket={str(sandbox.socket)!r})")
        newest = json.loads((data / "newest.json").read_text())
        crowd.empty(sandbox)
        held = crowd.fill(sandbox, args.live_bans, first=newest)
        print(f"node task cluster, SQLite, {args.rows:,} archived bans, {held:,} live; "
              f"PSS of its process tree every 30 s for {args.pss_minutes:g} min", flush=True)
        log = (root / "qcluster.log").open("w")
        proc = subprocess.Popen([PY, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        start = time.monotonic()
        samples = []
        peaks: dict[str, float] = {}
        tree = []
        while time.monotonic() - start < args.pss_minutes * 60:
            time.sleep(30)
            if proc.poll() is not None:
                sys.exit(f"the node's qcluster exited ({proc.returncode}): see "
                         f"{root / 'qcluster.log'}")
            tree = _tree(proc.pid)
            each = sorted(((_pss_kib(pid), pid, depth) for pid, _, depth in tree),
                          reverse=True)
            for kib, pid, depth in each:
                role = _role(pid, depth)
                peaks[role] = max(peaks.get(role, 0), kib / 1024)
            samples.append(sum(k for k, _, _ in each) / 1024)
            print(f"   {(time.monotonic() - start) / 60:5.1f} min  {len(tree)} processes  "
                  f"PSS {samples[-1]:6.1f} MiB  (largest: "
                  f"{', '.join(f'{k / 1024:.0f}' for k, _, _ in each[:4])} MiB)", flush=True)
        print(f"each process at {args.pss_minutes:g} min:")
        print("\n".join(_breakdown(_tree(proc.pid))))
        print("largest PSS each reached (MiB): " + ", ".join(
            f"{role} {mib:.1f}" for role, mib in sorted(peaks.items(), key=lambda r: -r[1])))
        print(f"PSS after {args.pss_minutes:g} min: {samples[-1]:.1f} MiB "
              f"(max {max(samples):.1f}); target ≤ 100 MiB: {_verdict(samples[-1] <= 100)}")
    finally:
        if proc is not None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--live-bans", type=int, default=50_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sequential", type=int, default=15,
                        help="requests per page and side, one client")
    parser.add_argument("--threads", type=int, default=8, help="clients of the load phase")
    parser.add_argument("--load-seconds", type=float, default=120, help="load phase, per side")
    parser.add_argument("--spike-minutes", type=float, default=10,
                        help="the slowest-vs-p50 phase (both sides in turn)")
    parser.add_argument("--before-rev", default=BEFORE_REV,
                        help="the git revision measured as 'before'")
    parser.add_argument("--before-revert", default="", metavar="C1,C2",
                        help="commits taken back out of --before-rev's tree, newest first")
    parser.add_argument("--sqlite-dir", metavar="DIR",
                        help="reuse the SQLite database a --profile DIR run filled")
    parser.add_argument("--old-way-rows", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--profile", metavar="DIR",
                        help="only the per-request profile (SQLite), the database kept in DIR")
    parser.add_argument("--profile-database", default="sqlite", choices=("sqlite", "postgres"),
                        help="--profile: the database to profile on (postgres: a database "
                             "'bangui_profile' on --postgres-url's server, kept between runs)")
    parser.add_argument("--profile-sort", default="tottime", choices=("tottime", "cumulative"),
                        help="--profile: cProfile's order (own time, or with callees)")
    parser.add_argument("--profile-top", type=int, default=0, metavar="N",
                        help="--profile: cProfile's N heaviest functions (default 25 by own "
                             "time, 60 by cumulative)")
    parser.add_argument("--profile-page", default="", metavar="TEXT",
                        help="--profile: only the pages whose label holds TEXT")
    parser.add_argument("--profile-sql", action="store_true",
                        help="--profile: list the statements of each page's median request")
    parser.add_argument("--node-pss", metavar="DIR",
                        help="only the node task cluster's PSS, on the database of DIR")
    parser.add_argument("--pss-minutes", type=float, default=60)
    parser.add_argument("--fill-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", help=argparse.SUPPRESS)
    parser.add_argument("--hour-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hour-bans", type=int, default=0, metavar="N",
                        help="--profile: first add N bans stamped now to DIR's archive "
                             "(a big import this hour; use a copy of DIR)")
    args = parser.parse_args()
    if args.fill_child is not None:
        _fill_child(args.fill_child)
        return
    if args.hour_child is not None:
        _hour_child(args.hour_child)
        return
    if args.profile_child is not None:
        _profile_child(args.sequential, args.profile_child,
                       args.profile_top or (25 if args.profile_sort == "tottime" else 60),
                       args.profile_sort, args.profile_page, args.profile_sql)
        return
    if args.profile:
        profile(args)
        return
    if args.node_pss:
        node_pss(args)
        return
    if args.live_bans < len(crowd.CROWD_JAILS):
        sys.exit(f"--live-bans must be at least {len(crowd.CROWD_JAILS)}")
    if not 1 <= args.load_seconds <= 600 or not 0 < args.spike_minutes <= 60:
        sys.exit("--load-seconds must be 1..600 and --spike-minutes 0..60")

    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-load-"))
    sandbox = crowd.sandbox(tmp / "f2b")
    sandbox.start()
    results = {}
    try:
        before = unpack(args.before_rev, tmp / "before",
                        [c for c in args.before_revert.split(",") if c])
        old = old_way_ms(args.old_way_rows)
        for backend in args.backends.split(","):
            results[backend] = run_backend(backend, args, sandbox, tmp, before)
    finally:
        sandbox.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{os.cpu_count()} CPUs; loopback; a new connection per request")
    for backend, out in results.items():
        report(backend, out, args, old)


if __name__ == "__main__":
    main()
