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
- **memory** of one node's worker: the RSS of its cluster's processes.
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


# --- the parent ----------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    """The RSS of ``pid`` and every descendant (KiB), from /proc."""
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
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
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
                       "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir)}
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

            # -- ban everywhere
            done = subprocess.run([PY, __file__, "--everywhere-child", str(args.rounds)],
                                  cwd=ROOT, env=web, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"ban everywhere failed:\n{done.stderr[-3000:]}")
            rounds = json.loads(done.stdout.strip().splitlines()[-1])
            seconds = [r["seconds"] for r in rounds]
            complete = sum(r["ok"] == r["of"] for r in rounds)
            print(f"ban everywhere ({args.nodes} nodes, {len(rounds)} rounds): "
                  f"p50 {statistics.median(seconds):.2f} s  p99 {pct(seconds, 0.99):.2f} s  "
                  f"(target p50 < 2 s); all nodes answered in {complete}/{len(rounds)}",
                  flush=True)
            for r in rounds:
                if r["failed"]:
                    print(f"   not done: {r['failed']}", flush=True)

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
            rss = [rss_kib(p.pid) for p in procs]
            print(f"node worker memory (RSS of a cluster's processes): median "
                  f"{statistics.median(rss) / 1024:.0f} MiB, max {max(rss) / 1024:.0f} MiB",
                  flush=True)

            # -- pages
            ip = psql(url, "SELECT ip FROM jails_banevent ORDER BY banned_at DESC LIMIT 1")[0][0]
            pages = [("dashboard 24h", "/"), ("dashboard 365d", "/?window=365d"),
                     ("world map 365d", "/map/?window=365d"), ("IP page", f"/ip/{ip}/"),
                     ("nodes", "/nodes/"), ("dashboard 365d, one node",
                                            f"/?window=365d&node={node_name(1)}")]
            with bench_load.gunicorn(web, 2, tmp) as port:
                cookie = bench_load.login(port)
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
