"""Load on real gunicorn over a million archived bans, 1, 2 and 4 workers.

    .venv/bin/python bench/load.py [--rows 1000000] [--backends sqlite,postgres]
                                   [--workers 1,2,4] [--requests 300] [--threads 8]
                                   [--seconds 30]

For each backend, a throwaway BanGUI: its own data dir (temp), its own
database (a SQLite file there, or a temp PostgreSQL database on the server of
--postgres-url, dropped afterwards), ``manage.py setup`` against a sandboxed
fail2ban-server (jails sshd and nginx-http-auth, dummy actions), and --rows
BanEvent rows over 365 days (bench/map.py's ``fill``, which also counts the
daily rollup; ANALYZE afterwards). Then, per worker count, gunicorn (sync
workers) on a free 127.0.0.1 port, one login, and for each page --requests
requests from --threads threads (a new connection each: gunicorn's sync
workers close them anyway), stopping early after --seconds. Loopback only: the
target is always 127.0.0.1. Prints requests/s and p50/p99 latency per page.

Pages: the dashboard (365d), the ban table fragment (the same URL with
HX-Request, as the table's links ask for), the world map (365d) and a jail
page. The charts and the map read the daily rollup on every request (only
what it cannot answer is cached per process); the warm-up below asks each
page 3 times per worker before measuring.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
PASSWORD = "load bench password 42"  # noqa: S105 (a throwaway admin)
PAGES = [
    ("dashboard 365d", "/?window=365d", {}),
    ("ban table fragment", "/?window=365d&page=2", {"HX-Request": "true"}),
    ("world map 365d", "/map/?window=365d", {}),
    ("jail page sshd", "/jails/sshd/", {}),
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


def run_backend(backend: str, args, sandbox, tmp: Path) -> list[tuple]:
    print(f"== {backend}: preparing {args.rows:,} bans", flush=True)
    data = tmp / backend
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
           "BANGUI_DATA_DIR": str(data), "BANGUI_LOG_LEVEL": "WARNING",
           "BANGUI_FAIL2BAN_SOCKET": str(sandbox.socket),
           "BANGUI_FAIL2BAN_CONFIG_DIR": str(sandbox.confdir),
           "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": ""}
    rows = []
    with ExitStack() as stack:
        if backend == "postgres":
            env["DATABASE_URL"] = stack.enter_context(postgres_database(args.postgres_url))
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "setup", "--username", "admin", "--password-file", "-",
               "--socket", str(sandbox.socket), stdin=PASSWORD + "\n")
        done = subprocess.run([PY, __file__, "--fill-child", str(args.rows)], cwd=ROOT,
                              env=env)
        if done.returncode:
            sys.exit("filling the database failed")
        for workers in args.workers:
            with gunicorn(env, workers, tmp) as port:
                cookie = login(port)
                for _label, path, headers in PAGES:
                    for _ in range(3 * workers):
                        request(port, path, {"Cookie": cookie, **headers})
                for label, path, headers in PAGES:
                    r = hammer(port, path, {"Cookie": cookie, **headers}, args.requests,
                               args.threads, args.seconds)
                    rows.append((backend, workers, label, r))
                    print(f"   {backend:<8} {workers} workers  {label:<20} "
                          f"{r['rps']:7.1f} req/s  p50 {r['p50']:7.1f} ms  "
                          f"p99 {r['p99']:7.1f} ms  n={r['n']} errors={r['errors']}",
                          flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--requests", type=int, default=300, help="per page and worker count")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30, help="cap per page and count")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--fill-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill_child is not None:
        _fill_child(args.fill_child)
        return
    args.workers = [int(w) for w in args.workers.split(",")]
    if args.requests < 1 or args.requests > 100_000 or args.seconds > 600:
        sys.exit("--requests must be 1..100000 and --seconds at most 600")

    sys.path.insert(0, str(ROOT))
    from jails.fail2ban.sandbox import Sandbox

    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-load-"))
    sandbox = Sandbox(tmp / "f2b")
    sandbox.start()
    results = []
    try:
        for backend in args.backends.split(","):
            results += run_backend(backend, args, sandbox, tmp)
    finally:
        sandbox.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.rows:,} archived bans; {args.threads} client threads, new connection "
          f"per request, up to {args.requests} requests or {args.seconds:.0f} s per row; "
          f"{os.cpu_count()} CPUs")
    print("| database | workers | page | req/s | p50 ms | p99 ms | n | errors |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for backend, workers, label, r in results:
        print(f"| {backend} | {workers} | {label} | {r['rps']:.1f} | {r['p50']:.0f} | "
              f"{r['p99']:.0f} | {r['n']} | {r['errors']} |")


if __name__ == "__main__":
    main()
