"""Load on real gunicorn over a million archived bans and a live fail2ban
holding 50,000 bans over 5 jails.

    .venv/bin/python bench/load.py [--rows 1000000] [--live-bans 50000]
                                   [--backends sqlite,postgres] [--workers 2,4]
                                   [--sequential 15] [--requests 300] [--threads 8]
                                   [--seconds 30] [--old-way-rows 1000000]

For each backend, a throwaway BanGUI: its own data dir (temp), its own
database (a SQLite file there, or a temp PostgreSQL database on the server of
--postgres-url, dropped afterwards), ``manage.py setup`` against a sandboxed
fail2ban-server that stays up for the whole run (bench/crowd.py: sshd and
nginx-http-auth with dummy actions, five action-less jails named like the
archive's), and --rows BanEvent rows over 365 days (bench/map.py's
``fill``, which also counts the daily rollup; ANALYZE afterwards).

Then, per worker count, gunicorn (sync workers) on a free 127.0.0.1 port,
one login, and two phases in the same run: fail2ban holding **0** live bans,
then **--live-bans** (the archive's newest IPs of each crowd jail among
them, so the dashboard's rows find live bans). In each phase every page is
asked --sequential times in a row by one client (p50: the ratio live / 0
that the live-state target is about); in the live phase each page is also
hammered with --requests requests from --threads threads (a new connection
each: gunicorn's sync workers close them anyway), stopping early after
--seconds: requests/s, p50 and p99. Loopback only: the target is always
127.0.0.1. Also in the same run: ``fail2ban-client status <jail>`` for the
jail page's jail, and "the old way" -- count, first page and group-by-IP
over fail2ban's own ``bans`` table for 365 days with --old-way-rows rows
(bench/archive.py's database) -- against the dashboard 365d.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import crowd  # noqa: E402 (needs the project root on the path)

PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
PASSWORD = "load bench password 42"  # noqa: S105 (a throwaway admin)
CROWD_JAIL = "postfix"  # the jail page timed: a fifth of the live bans


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
        cur.execute("ANALYZE")
    print(f"    filled {rows:,} bans in {time.perf_counter() - start:.0f} s", flush=True)
    from jails.models import BanEvent

    newest = {jail: list(BanEvent.objects.filter(jail=jail).order_by("-banned_at")
                         .values_list("ip", flat=True)[:500]) for jail in crowd.CROWD_JAILS}
    print(json.dumps(newest), flush=True)


# --- child: a per-request profile (in-process, Django's test client) -------------------
def _profile_child(runs: int, ip: str, top: int) -> None:
    """Per page: wall time, SQL (count, time), template time (the outer
    render, its own SQL taken out), the rest (Python: view, middleware,
    fail2ban's socket), warm (p50 of ``runs``) and cold (caches cleared);
    then cProfile's heaviest functions over ``runs`` more requests."""
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

    web = Client(HTTP_HOST="localhost")
    web.force_login(User.objects.get(username="admin"))
    state = {"sql_n": 0, "sql_ms": 0.0, "tpl_ms": 0.0, "tpl_sql_ms": 0.0, "depth": 0}

    def timed_sql(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - start) * 1000
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
        for key in ("sql_n", "sql_ms", "tpl_ms", "tpl_sql_ms"):
            state[key] = 0
        start = time.perf_counter()
        response = web.get(path, **headers)
        total = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            sys.exit(f"{path}: HTTP {response.status_code}")
        return {"total": total, "sql_n": state["sql_n"], "sql_ms": state["sql_ms"],
                "tpl_ms": state["tpl_ms"] - state["tpl_sql_ms"],
                "kib": len(response.content) / 1024}

    print("| page | cold ms | p50 ms | SQL n | SQL ms | template ms | other ms | KiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    profiles = []
    with connection.execute_wrapper(timed_sql):
        for label, path, hdr in pages(ip):
            headers = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in hdr.items()}
            cache.clear()
            cold = one(path, headers)
            samples = sorted((one(path, headers) for _ in range(runs)),
                             key=lambda s: s["total"])
            mid = samples[len(samples) // 2]
            print(f"| {label} | {cold['total']:.1f} | {mid['total']:.1f} | {mid['sql_n']} | "
                  f"{mid['sql_ms']:.1f} | {mid['tpl_ms']:.1f} | "
                  f"{mid['total'] - mid['sql_ms'] - mid['tpl_ms']:.1f} | {mid['kib']:.0f} |",
                  flush=True)
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(runs):
                web.get(path, **headers)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(top)
            profiles.append((label, out.getvalue()))
    for label, text in profiles:
        body = text[text.find("ncalls"):] if "ncalls" in text else text
        print(f"\n#### {label}: cProfile, {runs} requests, top {top} by own time\n{body}")


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
def gunicorn(env: dict, workers: int, logdir: Path):
    errors = logdir / f"gunicorn-{secrets.token_hex(4)}.log"
    proc = subprocess.Popen(
        [GUNICORN, "bangui.wsgi", "--workers", str(workers), "--bind", "127.0.0.1:0",
         "--error-logfile", str(errors), "--graceful-timeout", "5", "--timeout", "120"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
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
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000}


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


def run_backend(backend: str, args, sandbox, tmp: Path) -> dict:
    print(f"== {backend}: preparing {args.rows:,} bans", flush=True)
    data = tmp / backend
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
           "BANGUI_DATA_DIR": str(data), "BANGUI_LOG_LEVEL": "WARNING",
           "BANGUI_FAIL2BAN_SOCKET": str(sandbox.socket),
           "BANGUI_FAIL2BAN_CONFIG_DIR": str(sandbox.confdir),
           "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": ""}
    out = {"sequential": [], "load": [], "cli": None}
    with ExitStack() as stack:
        if backend == "postgres":
            env["DATABASE_URL"] = stack.enter_context(postgres_database(args.postgres_url))
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "setup", "--username", "admin", "--password-file", "-",
               "--socket", str(sandbox.socket), stdin=PASSWORD + "\n")
        done = subprocess.run([PY, __file__, "--fill-child", str(args.rows)], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"filling the database failed:\n{done.stderr[-3000:]}")
        print(done.stdout.splitlines()[0], flush=True)
        newest = json.loads(done.stdout.strip().splitlines()[-1])
        ip = newest[CROWD_JAIL][0]
        for workers in args.workers:
            with gunicorn(env, workers, tmp) as port:
                cookie = login(port)
                for live in (0, args.live_bans):
                    crowd.empty(sandbox)
                    held = crowd.fill(sandbox, live, first=newest) if live else 0
                    for label, path, headers in pages(ip):
                        for _ in range(3 * workers):
                            request(port, path, {"Cookie": cookie, **headers})
                        ms = sequential(port, path, {"Cookie": cookie, **headers},
                                        args.sequential)
                        out["sequential"].append((workers, held, label, ms))
                        print(f"   {backend:<8} {workers} workers  {held:>6,} live  "
                              f"{label:<22} p50 {ms:7.1f} ms (in a row)", flush=True)
                    if not live:
                        continue
                    if out["cli"] is None:
                        out["cli"] = cli_status_ms(sandbox, CROWD_JAIL)
                    for label, path, headers in pages(ip):
                        r = hammer(port, path, {"Cookie": cookie, **headers}, args.requests,
                                   args.threads, args.seconds)
                        out["load"].append((workers, held, label, r))
                        print(f"   {backend:<8} {workers} workers  {held:>6,} live  "
                              f"{label:<22} {r['rps']:7.1f} req/s  p50 {r['p50']:7.1f} ms  "
                              f"p99 {r['p99']:7.1f} ms  n={r['n']} errors={r['errors']}",
                              flush=True)
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


def report(backend: str, out: dict, args, old: tuple[float, int]) -> None:
    print(f"\n### {backend}: {args.rows:,} archived bans, fail2ban up the whole time")
    print("| workers | page | p50 ms, 0 live | p50 ms, live | live / 0 |")
    print("|---:|---|---:|---:|---:|")
    zero = {(w, label): ms for w, held, label, ms in out["sequential"] if held == 0}
    held_n = 0
    for workers, held, label, ms in out["sequential"]:
        if held:
            held_n = held
            base = zero[(workers, label)]
            print(f"| {workers} | {label} | {base:.1f} | {ms:.1f} | {ms / base:.2f}x |")
    print(f"(live = {held_n:,} bans over {len(crowd.CROWD_JAILS)} jails; "
          f"{args.sequential} requests in a row per page, one client)")
    if out["cli"] is not None:
        print(f"fail2ban-client status {CROWD_JAIL}: {out['cli']:.0f} ms")
    dash = [ms for w, held, label, ms in out["sequential"] if held and label == "dashboard 365d"]
    if dash:
        print(f"old way (count + first page + group by IP over fail2ban's bans, 365 d, "
              f"{old[1]:,} rows): {old[0]:.0f} ms; dashboard 365d is {old[0] / min(dash):.0f}x "
              "faster")
    print(f"\n| workers | page ({held_n:,} live) | req/s | p50 ms | p99 ms | n | errors |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for workers, _held, label, r in out["load"]:
        print(f"| {workers} | {label} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} | "
              f"{r['n']} | {r['errors']} |")


def profile(args) -> None:
    """``--profile DIR``: the per-request breakdown on SQLite, in process.
    DIR keeps the filled database and the sandbox between runs (built once)."""
    root = Path(args.profile).resolve()
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
    try:
        newest_file = root / "newest.json"
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
        newest = json.loads(newest_file.read_text())
        crowd.empty(sandbox)
        held = crowd.fill(sandbox, args.live_bans, first=newest)
        print(f"SQLite, {args.rows:,} archived bans, {held:,} live; in process "
              f"(Django's test client), one request at a time", flush=True)
        subprocess.run([PY, __file__, "--profile-child", newest[CROWD_JAIL][0],
                        "--sequential", str(args.sequential)], cwd=ROOT, env=env, check=True)
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--live-bans", type=int, default=50_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", default="2,4")
    parser.add_argument("--sequential", type=int, default=15, help="requests in a row per page")
    parser.add_argument("--requests", type=int, default=300, help="per page and worker count")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30, help="cap per page and count")
    parser.add_argument("--old-way-rows", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--profile", metavar="DIR",
                        help="only the per-request profile (SQLite), the database kept in DIR")
    parser.add_argument("--fill-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill_child is not None:
        _fill_child(args.fill_child)
        return
    if args.profile_child is not None:
        _profile_child(args.sequential, args.profile_child, 25)
        return
    if args.profile:
        profile(args)
        return
    args.workers = [int(w) for w in args.workers.split(",")]
    if args.requests < 1 or args.requests > 100_000 or args.seconds > 600:
        sys.exit("--requests must be 1..100000 and --seconds at most 600")
    if args.live_bans < len(crowd.CROWD_JAILS):
        sys.exit(f"--live-bans must be at least {len(crowd.CROWD_JAILS)}")

    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-load-"))
    sandbox = crowd.sandbox(tmp / "f2b")
    sandbox.start()
    results = {}
    try:
        old = old_way_ms(args.old_way_rows)
        for backend in args.backends.split(","):
            results[backend] = run_backend(backend, args, sandbox, tmp)
    finally:
        sandbox.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.threads} client threads for the load rows, new connection per request, "
          f"up to {args.requests} requests or {args.seconds:.0f} s per row; "
          f"{os.cpu_count()} CPUs")
    for backend, out in results.items():
        report(backend, out, args, old)


if __name__ == "__main__":
    main()
