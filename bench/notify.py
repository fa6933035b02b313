"""Notification latency: fail2ban's ban to a message at a local receiver.

    .venv/bin/python bench/notify.py [--bans 10]

One node as deployed, at the default intervals: a sandboxed fail2ban-server
(polling backend), ``manage.py qcluster`` (BANGUI_NODE "bench", SQLite) with
its node tick (every BANGUI_NODE_TICK_SECONDS, 5: it copies new bans into
the archive) and its ``notify`` schedule (every minute, django-q2's
shortest: the rules' look, then the sends). A ``watched`` rule (quiet period
0) on the bench's network sends to apprise's ``json://`` at an
``http.server`` on 127.0.0.1 in this process.

Each of --bans rounds writes failed-login lines for a new address into the
sandbox's sshd log and times, from that write: the ban in fail2ban (its
socket), the ban in the archive (the tick), and the message at the receiver.
Prints p50 and max of each (target, issue #26: p50 < 10 s to the receiver).
The rounds start at random points of the minute, as real bans do.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jails.fail2ban.client import Fail2banClient  # noqa: E402
from jails.fail2ban.testing import Sandbox  # noqa: E402

PY = sys.executable
NETWORK = "198.18.0.0/15"  # benchmarking addresses (RFC 2544), the rule's watch


class Receiver:
    """Records when each address first appears in a message."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.messages = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                receiver.messages += 1
                text = json.loads(body or b"{}").get("message", "")
                for word in text.replace(";", " ").split():
                    receiver.seen.setdefault(word, now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def setup_child(port: int) -> None:
    """In the node's environment: the channel and the rule."""
    import django

    django.setup()
    from notifications.models import Channel, Rule

    channel = Channel(name="receiver")
    channel.set_url(f"json://127.0.0.1:{port}/hook")
    channel.save()
    rule = Rule.objects.create(name="bench", kind="watched", watched=NETWORK, quiet_minutes=0,
                               severity="info")
    rule.channels.set([channel])


def manage(env: dict, *args: str) -> None:
    done = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _wait(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def _archived(db: Path, ip: str) -> bool:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT 1 FROM jails_banevent WHERE ip = ?", (ip,)).fetchone() \
            is not None
    except sqlite3.OperationalError:  # locked by a writer: ask again
        return False
    finally:
        con.close()


def _node_up(db: Path) -> bool:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT 1 FROM bangui_node WHERE name = 'bench' AND holder <> '' "
                           "AND expires_at > datetime('now')").fetchone() is not None
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


def pct(values: list[float]) -> str:
    return (f"p50 {statistics.median(values):5.1f} s  max {max(values):5.1f} s"
            if values else "none arrived")


def run(bans: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bgn-"))  # short: Unix socket paths
    box = Sandbox(tmp / "f")
    receiver = Receiver()
    worker = None
    try:
        box.start()
        client = Fail2banClient(str(box.socket))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
               "BANGUI_LOG_LEVEL": "WARNING", "BANGUI_SECRET_KEY": secrets.token_urlsafe(40),
               "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
               "BANGUI_NODE": "bench", "BANGUI_DATA_DIR": str(tmp / "d"),
               "BANGUI_FAIL2BAN_SOCKET": str(box.socket),
               "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir),
               "BANGUI_NOTIFY_ALLOW_PRIVATE": "1"}  # the receiver is on loopback
        db = tmp / "d" / "bangui.sqlite3"
        manage(env, "migrate", "--noinput", "-v", "0")
        done = subprocess.run([PY, __file__, "--setup-child", str(receiver.port)], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"setting up the rule failed:\n{done.stderr[-3000:]}")
        log = (tmp / "qcluster.log").open("w")
        worker = subprocess.Popen([PY, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if not _wait(lambda: _node_up(db), 120, 0.5):
            sys.exit(f"the worker did not come up; see {tmp}/qcluster.log")
        print(f"== one node (SQLite), sandboxed fail2ban, qcluster at the default intervals; "
              f"{bans} bans, each from 3 failed-login lines", flush=True)
        to_f2b, to_archive, to_receiver = [], [], []
        rng = random.Random(26)
        for k in range(bans):
            time.sleep(rng.uniform(0, 60))  # a random point of the notify minute
            ip = f"198.18.{k // 250}.{k % 250 + 1}"
            start = time.monotonic()
            box.write_failures("sshd", ip, 3)
            if _wait(lambda ip=ip: ip in client.banned("sshd"), 60):
                to_f2b.append(time.monotonic() - start)
            if _wait(lambda ip=ip: _archived(db, ip), 120):
                to_archive.append(time.monotonic() - start)
            arrived = _wait(lambda ip=ip: receiver.seen.get(ip), 180)
            if arrived:
                to_receiver.append(arrived - start)
            print(f"   ban {k + 1:>2}: {ip:<14} fail2ban {to_f2b[-1] if to_f2b else 0:5.1f} s"
                  f"  archive {to_archive[-1] if to_archive else 0:5.1f} s"
                  f"  receiver {(arrived - start) if arrived else float('nan'):5.1f} s",
                  flush=True)
        print(f"log lines -> banned in fail2ban ({len(to_f2b)}/{bans}): {pct(to_f2b)}")
        print(f"log lines -> in the archive     ({len(to_archive)}/{bans}): {pct(to_archive)}")
        print(f"log lines -> at the receiver    ({len(to_receiver)}/{bans}): "
              f"{pct(to_receiver)} (target p50 < 10 s); {receiver.messages} messages")
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
        receiver.close()
        box.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bans", type=int, default=10)
    parser.add_argument("--setup-child", type=int, metavar="PORT")
    args = parser.parse_args()
    if args.setup_child:
        setup_child(args.setup_child)
        return
    run(args.bans)


if __name__ == "__main__":
    main()
