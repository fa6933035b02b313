"""The fleet on one machine: N nodes, each a sandboxed fail2ban-server and
its own ``manage.py qcluster`` (BANGUI_NODE), one PostgreSQL, one web tier.

    .venv/bin/python bench/fleet.py [--nodes 10] [--rows 1000000]
                                    [--live-bans 50000] [--rounds 20]
                                    [--detections 10] [--sequential 15]
                                    [--postgres-url postgres://postgres@127.0.0.1:5432/postgres]

Prints, from one run (docs/fleet.md quotes it):

- **ban everywhere**: ``jails.fleet.dispatch.send`` to every node (what the
  dashboard's "every node" and ``f2b --all-nodes`` do), --rounds times, a
  new IP each time; p50/p99 until every node answered (target p50 < 2 s).
- **ban everywhere while every node imports a dripping list**: a list
  server on 127.0.0.1 that sends one byte a second; "Import now" on every
  node (their main lanes are then busy for minutes), then the same rounds
  (target p99 < 2 s: commands go to each node's command lane).
- **a node command from the web**: the dashboard's ban form aimed at one
  other node over gunicorn, --rounds times: the request's time (target
  < 200 ms: it answers "waiting for …" at once and the page polls).
- **detection to dashboard**: failed-login lines written into one node's
  sshd log; time until the ban is in the shared archive with that node (what
  the dashboard reads), --detections times round the nodes (target p50 <
  10 s at the default intervals: fail2ban's polling backend, then the
  node's tick).
- **pages** over gunicorn with every node's data: --rows archived bans
  spread over the nodes (365 days) plus --live-bans live bans spread over
  the nodes' fail2bans (and synced into the archive by them): dashboard
  24h/365d, the world map 365d, one IP's page, /nodes/; p50 of
  --sequential requests in a row (target < 100 ms).
- **memory** of one node's worker: the PSS of its processes (both lanes).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import crowd  # noqa: E402
from bench import load as bench_load  # noqa: E402

PY = sys.executable


def node_name(i: int) -> str:
    return f"n{i:02d}"


# --- children (run with the web tier's environment) ----------------------------------
def _django():
    import django

    django.setup()


def fill_child(rows: int, nodes: int) -> None:
    _django()
    import importlib.util

    from django.db import connection

    spec = importlib.util.spec_from_file_location("bench_map", ROOT / "bench" / "map.py")
    bench_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_map)
    start = time.perf_counter()
    bench_map.fill(rows, min(200_000, max(rows // 5, 1)), datetime.now(UTC),
                   nodes=[node_name(i) for i in range(nodes)])
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def everywhere_child(rounds: int) -> None:
    """``rounds`` bans on every node, each timed until all answered."""
    _django()
    from jails.fleet import dispatch

    nodes = dispatch.all_nodes()
    out = []
    for r in range(rounds):
        ip = f"198.18.{r // 250}.{r % 250 + 1}"
        start = time.perf_counter()
        replies = dispatch.send(nodes, "ban", {"jail": "sshd", "ips": [ip]}, "bench",
                                wait=30)
        out.append({"seconds": time.perf_counter() - start,
                    "ok": sum(r.ok for r in replies), "of": len(replies),
                    "failed": [f"{r.node}: {r.message}" for r in replies if not r.ok][:3]})
    print(json.dumps(out), flush=True)


def importing_child(url: str) -> None:
    """A blocklist source at ``url`` for every node, imported now on each."""
    _django()
    from blocklists import schedules
    from blocklists.models import BlocklistSource

    source = BlocklistSource.objects.create(name="drip", url=url, jail="sshd",
                                            interval_minutes=10080)
    print(json.dumps(schedules.import_now(source, "bench")), flush=True)


class Drip:
    """An HTTP server that answers every GET with one byte a second, for
    ``seconds`` (each byte resets the downloader's read timeout), then stops."""

    def __init__(self, seconds: float) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        stop = self.stop = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                end = time.monotonic() + seconds
                while time.monotonic() < end and not stop.wait(1):
                    try:
                        self.wfile.write(b"#")
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/drip.txt"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()


def everywhere(web: dict, rounds: int, label: str, nodes: int) -> None:
    done = subprocess.run([PY, __file__, "--everywhere-child", str(rounds)],
                          cwd=ROOT, env=web, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"ban everywhere failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = [r["seconds"] for r in out]
    complete = sum(r["ok"] == r["of"] for r in out)
    print(f"ban everywhere{label} ({nodes} nodes, {len(out)} rounds): "
          f"p50 {statistics.median(seconds):.2f} s  p99 {pct(seconds, 0.99):.2f} s  "
          f"(target p99 < 2 s); all nodes answered in {complete}/{len(out)}", flush=True)
    for r in out:
        if r["failed"]:
            print(f"   not done: {r['failed']}", flush=True)


# --- the parent ----------------------------------------------------------------------
def pss_kib(pid: int) -> int:
    """The PSS of ``pid`` and every descendant (KiB), from
    /proc/*/smaps_rollup: forked processes share pages, which RSS counts
    once per process and PSS divides among them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def psql(url: str, sql: str, params: tuple = ()):
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        return con.execute(sql, params).fetchall()


def run(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bgf-"))  # short: Unix socket paths
    procs: list[subprocess.Popen] = []
    boxes = []
    try:
        with ExitStack() as stack:
            url = stack.enter_context(bench_load.postgres_database(args.postgres_url))
            base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
                    "BANGUI_LOG_LEVEL": "WARNING", "DATABASE_URL": url,
                    "BANGUI_SECRET_KEY": secrets.token_urlsafe(40),
                    "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT)}
            web = {**base, "BANGUI_NODE": "web", "BANGUI_DATA_DIR": str(tmp / "web")}
            print(f"== {args.nodes} nodes, PostgreSQL, {args.rows:,} archived bans, "
                  f"{args.live_bans:,} live bans", flush=True)
            bench_load.manage(web, "migrate", "--noinput", "-v", "0")
            bench_load.manage(web, "collectstatic", "--noinput", "-v", "0")
            for i in range(args.nodes):
                box = crowd.sandbox(tmp / f"f{i}", jails=crowd.CROWD_JAILS[:2])
                box.start()
                boxes.append(box)
            bench_load.manage(web, "setup", "--username", "admin", "--password-file", "-",
                              "--socket", str(boxes[0].socket),
                              stdin=bench_load.PASSWORD + "\n")
            done = subprocess.run([PY, __file__, "--fill-child", str(args.rows),
                                   str(args.nodes)], cwd=ROOT, env=web, capture_output=True,
                                  text=True)
            if done.returncode:
                sys.exit(f"filling the archive failed:\n{done.stderr[-3000:]}")
            print(f"   archive filled in {json.loads(done.stdout)['seconds']:.0f} s",
                  flush=True)
            per_node = args.live_bans // args.nodes
            start = time.perf_counter()
            held = sum(crowd.fill(box, per_node, jails=crowd.CROWD_JAILS[:2])
                       for box in boxes)
            print(f"   {held:,} live bans in {time.perf_counter() - start:.0f} s", flush=True)

            for i, box in enumerate(boxes):
                env = {**base, "BANGUI_NODE": node_name(i),
                       "BANGUI_DATA_DIR": str(tmp / f"d{i}"),
                       "BANGUI_FAIL2BAN_SOCKET": str(box.socket),
                       "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir),
                       "BANGUI_BLOCKLIST_ALLOW_PRIVATE": "1"}  # the drip server on loopback
                log = (tmp / f"node{i}.log").open("w")
                procs.append(subprocess.Popen([PY, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                              stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                up = psql(url, "SELECT count(*) FROM bangui_node WHERE expires_at > now() "
                               "AND holder <> ''")[0][0]
                if up == args.nodes:
                    break
                time.sleep(0.5)
            else:
                sys.exit(f"only {up} of {args.nodes} nodes came up; see {tmp}/node*.log")
            # The nodes' first ticks copy their live bans into the archive.
            target = args.rows + held
            deadline = time.monotonic() + 600
            while psql(url, "SELECT count(*) FROM jails_banevent")[0][0] < target:
                if time.monotonic() > deadline:
                    break
                time.sleep(1)
            archived = psql(url, "SELECT count(*) FROM jails_banevent")[0][0]
            print(f"   {args.nodes} nodes up; archive holds {archived:,} bans", flush=True)

            # -- ban everywhere, idle nodes and then nodes busy with a download
            everywhere(web, args.rounds, "", args.nodes)
            drip = Drip(seconds=600)
            stack.callback(drip.close)
            done = subprocess.run([PY, __file__, "--importing-child", drip.url], cwd=ROOT,
                                  env=web, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"queueing the imports failed:\n{done.stderr[-3000:]}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and psql(
                    url, "SELECT count(*) FROM jails_blocklistclaim")[0][0] < args.nodes:
                time.sleep(0.5)
            claimed = psql(url, "SELECT count(*) FROM jails_blocklistclaim")[0][0]
            print(f"   {claimed} of {args.nodes} nodes are downloading a list that drips "
                  "1 byte a second", flush=True)
            everywhere(web, args.rounds, " while every node imports", args.nodes)

            # -- detection to dashboard
            latencies = []
            for k in range(args.detections):
                i = k % args.nodes
                ip = f"198.19.{k // 250}.{k % 250 + 1}"
                start = time.monotonic()
                boxes[i].write_failures("sshd", ip, 3)
                while time.monotonic() - start < 120:
                    if psql(url, "SELECT 1 FROM jails_banevent WHERE node = %s AND ip = %s",
                            (node_name(i), ip)):
                        latencies.append(time.monotonic() - start)
                        break
                    time.sleep(0.1)
            print(f"fail2ban ban -> dashboard ({len(latencies)}/{args.detections} arrived): "
                  f"p50 {statistics.median(latencies):.1f} s  max {max(latencies):.1f} s "
                  f"(target p50 < 10 s at default intervals)", flush=True)

            # -- memory of one node's worker
            pss = [pss_kib(p.pid) for p in procs]
            print(f"node worker memory (PSS of a node's processes, both lanes): median "
                  f"{statistics.median(pss) / 1024:.0f} MiB, max {max(pss) / 1024:.0f} MiB",
                  flush=True)

            # -- pages
            ip = psql(url, "SELECT ip FROM jails_banevent ORDER BY banned_at DESC LIMIT 1")[0][0]
            pages = [("dashboard 24h", "/"), ("dashboard 365d", "/?window=365d"),
                     ("world map 365d", "/map/?window=365d"), ("IP page", f"/ip/{ip}/"),
                     ("nodes", "/nodes/"), ("dashboard 365d, one node",
                                            f"/?window=365d&node={node_name(1)}")]
            with bench_load.gunicorn(web, 2, tmp) as port:
                cookie = bench_load.login(port)
                csrf = cookie.split("csrftoken=")[1].split(";")[0]
                post = {"Cookie": cookie, "X-CSRFToken": csrf, "HX-Request": "true",
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Referer": f"http://127.0.0.1:{port}/"}
                took, pending = [], 0
                for k in range(args.rounds):
                    body = f"ip=198.18.200.{k + 1}&jail=sshd&node={node_name(k % args.nodes)}"
                    start = time.perf_counter()
                    answer = bench_load.request(port, "/bans/ban/", post, "POST", body)
                    took.append((time.perf_counter() - start) * 1000)
                    pending += answer.status == 200 and b"to answer" in answer.body
                print(f"web request of a node command, dashboard ban form ({len(took)} bans "
                      f"on one other node each; the answer re-renders the ban table): p50 "
                      f"{statistics.median(took):.1f} ms  p99 {pct(took, 0.99):.1f} ms (target "
                      f"< 200 ms); answered 'waiting' at once in {pending}", flush=True)
                took, pending = [], 0
                for k in range(args.rounds):
                    node = node_name(k % args.nodes)
                    start = time.perf_counter()
                    answer = bench_load.request(port, f"/nodes/{node}/unban/", post, "POST",
                                                f"ip=198.18.250.{k + 1}&jail=sshd")
                    took.append((time.perf_counter() - start) * 1000)
                    pending += answer.status == 200 and b"to answer" in answer.body
                print(f"web request of a node command, node page unban ({len(took)} on the "
                      f"nodes in turn): p50 {statistics.median(took):.1f} ms  p99 "
                      f"{pct(took, 0.99):.1f} ms (target < 200 ms); answered 'waiting' at once "
                      f"in {pending}", flush=True)
                for label, path in pages:
                    # The first request fills its worker's minute-long
                    # caches (settled days and hours): what one request a
                    # minute per process pays.
                    start = time.perf_counter()
                    bench_load.request(port, path, {"Cookie": cookie})
                    first = (time.perf_counter() - start) * 1000
                    for _ in range(3):
                        bench_load.request(port, path, {"Cookie": cookie})
                    ms = bench_load.sequential(port, path, {"Cookie": cookie}, args.sequential)
                    print(f"page {label:<26} p50 {ms:7.1f} ms (target < 100 ms)  "
                          f"first {first:7.1f} ms", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
        for box in boxes:
            box.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    if sys.argv[1:2] == ["--fill-child"]:
        fill_child(int(sys.argv[2]), int(sys.argv[3]))
        return
    if sys.argv[1:2] == ["--importing-child"]:
        importing_child(sys.argv[2])
        return
    if sys.argv[1:2] == ["--everywhere-child"]:
        everywhere_child(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--live-bans", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--detections", type=int, default=10)
    parser.add_argument("--sequential", type=int, default=15)
    parser.add_argument("--postgres-url",
                        default=os.environ.get("BANGUI_TEST_POSTGRES_URL",
                                               "postgres://postgres@127.0.0.1:5432/postgres"))
    run(parser.parse_args())


if __name__ == "__main__":
    main()
