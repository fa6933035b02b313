"""Blocklist import speed, per stage, against fail2ban's own floor.

Serves a 20,000-IP list from a local HTTP server and imports it with
BanGUI's importer into (a) a jail without actions and (b) a jail with
``action = dummy``; beside each, the same IPs through the raw socket:
one ``banip`` per IP for (a) (the issue's reference; also on one
connection, and in 5,000-IP batches: fail2ban's own floor, which no
client can beat; and those batches until fail2ban has written its own
rows, the floor of an archive copied from them), one bulk ``banip`` for
(b).

BanGUI's row counts every stage it needs: download, parse, ban and the
archive rows (origin "blocklist", countries). ``archive`` is the part left
after fail2ban's last answer; the archive work done while fail2ban banned
is listed below the table. Before every measurement the bench waits until
fail2ban has written the previous bans to its database (it does so behind
``banip``, in its own thread), so no run pays for the one before. The
scheduled sync that follows an import is timed too (it reads fail2ban's rows
for the same bans and must add no twin).

    flock /tmp/bangui-bench.lock .venv/bin/python bench/blocklist.py [--ips 20000] [--skip-dummy]
        [--skip-one-by-one] [--database sqlite|postgres] [--postgres-url URL]

The archive is a fresh SQLite file in a temp dir, or with ``--database
postgres`` a throwaway database created on the server of ``--postgres-url``
(default: the tests' URL in .venv/.bangui-test-postgres-url) and dropped
afterwards; DATABASE_URL from the environment is never used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_URL_FILE = ROOT / ".venv" / ".bangui-test-postgres-url"
sys.path.insert(0, str(ROOT))

from jails.fail2ban import Fail2banClient  # noqa: E402
from jails.fail2ban.testing import Sandbox, SandboxJail  # noqa: E402


def serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/list.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ips", type=int, default=20_000)
    parser.add_argument("--skip-dummy", action="store_true",
                        help="only the action-less jail (quick iterations; the dummy case "
                             "takes minutes)")
    parser.add_argument("--skip-one-by-one", action="store_true",
                        help="leave out the two one-banip-per-IP references (minutes at "
                             "100,000 IPs); fail2ban's batched floor is still measured")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default=None,
                        help="a server BanGUI's tests may create databases on (default: "
                             f"{PG_URL_FILE.relative_to(ROOT)})")
    args = parser.parse_args()
    rng = random.Random(7)
    ips = sorted({f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                  f"{rng.randint(1, 254)}" for _ in range(args.ips * 2)})[: args.ips]
    body = ("# bench list\n" + "\n".join(ips) + "\n").encode()

    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-bl-"))
    sandbox = Sandbox(tmp / "f2b", jails=(
        SandboxJail("bl-noaction", "sshd", "noaction.log", actions=False),
        SandboxJail("bl-dummy", "sshd", "dummy.log"),
    ))
    sandbox.start()
    try:
        with contextlib.ExitStack() as stack:
            os.environ.pop("DATABASE_URL", None)
            if args.database == "postgres":
                sys.path.insert(0, str(ROOT / "bench"))
                from load import postgres_database

                admin = args.postgres_url or PG_URL_FILE.read_text().strip()
                os.environ["DATABASE_URL"] = stack.enter_context(postgres_database(admin))
            run_bench(args, sandbox, tmp, ips, body)
    finally:
        sandbox.stop()  # also when setup fails (a failed migrate left servers behind)


def run_bench(args, sandbox: Sandbox, tmp: Path, ips: list[str], body: bytes) -> None:
    os.environ.update(BANGUI_DATA_DIR=str(tmp / "data"), BANGUI_FAIL2BAN_SOCKET=str(sandbox.socket),
                      BANGUI_FAIL2BAN_CONFIG_DIR=str(sandbox.confdir),
                      BANGUI_BLOCKLIST_ALLOW_PRIVATE="1", DJANGO_SETTINGS_MODULE="bangui.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from blocklists.importer import run_import
    from blocklists.models import BlocklistSource
    from jails.archive import sync as archive
    from jails.models import BanEvent

    httpd, url = serve(body)
    client = Fail2banClient(str(sandbox.socket), timeout=600)
    dbfile = client.call("get", "dbfile")

    def settled() -> int:
        """Wait until fail2ban has written every ban to its db (it writes
        behind banip, in its own thread): no measurement starts while
        fail2ban still works on the previous one. Returns its row count."""
        last = -1
        while True:
            con = sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True, timeout=30)
            try:
                count = con.execute("SELECT count(*) FROM bans").fetchone()[0]
            finally:
                con.close()
            if count == last:
                return count
            last = count
            time.sleep(0.5)

    notes = []
    try:
        from django.db import connection

        print(f"{len(ips):,} IPs, {len(body):,} bytes, fail2ban {client.version()}, "
              f"archive on {connection.vendor}, load average {os.getloadavg()[0]:.2f}")
        print(f"{'jail':<12}{'what':<34}{'download':>10}{'parse':>8}{'ban':>9}"
              f"{'archive':>9}{'total s':>9}")
        for jail in ("bl-noaction",) if args.skip_dummy else ("bl-noaction", "bl-dummy"):
            source = BlocklistSource.objects.create(name=jail, url=url + f"?{jail}", jail=jail)
            settled()
            archive.sync()  # catch up on the rows of earlier measurements (not timed)
            run = run_import(source, actor="bench")
            assert run.status == "ok", run.error
            t = run.timings
            print(f"{jail:<12}{'BanGUI import':<34}{t['download']:>10.3f}{t['parse']:>8.3f}"
                  f"{t['ban']:>9.3f}{t['archive']:>9.3f}{t['total']:>9.3f}")
            events = BanEvent.objects.filter(jail=jail)
            archived = (events.count(), events.filter(origin="blocklist").count(),
                        events.filter(country_code__isnull=False).count())
            # The scheduled sync that follows reads fail2ban's rows for the
            # same bans: it must add nothing (no twins) and keep the origin.
            settled()
            con = sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True, timeout=30)
            try:
                theirs = dict(con.execute("SELECT ip, timeofban FROM bans WHERE jail = ?",
                                          (jail,)).fetchall())
            finally:
                con.close()
            same_key = sum(1 for ip, at in events.values_list("ip", "banned_at")
                           if theirs.get(ip) == int(at.timestamp()))
            start = time.perf_counter()
            result = archive.sync()
            after_sync = time.perf_counter() - start
            again = (events.count(), events.filter(origin="blocklist").count())
            notes.append(
                f"{jail}: archived at import end {archived[0]:,} rows, {archived[1]:,} "
                f"'blocklist', {archived[2]:,} with a country (archive work overlapped "
                f"with banning {t.get('archive_overlapped', 0):.3f} s), {same_key:,} with "
                f"fail2ban's exact key; following "
                f"archive.sync() {after_sync:.3f} s: {result}; rows then {again[0]:,}, "
                f"{again[1]:,} 'blocklist'")
            client.unban_all()

            def raw(label: str, ban, jail: str = jail) -> float:
                settled()
                start = time.perf_counter()
                ban()
                took = time.perf_counter() - start
                print(f"{jail:<12}{label:<34}{'':>10}{'':>8}{took:>9.3f}{'':>9}{took:>9.3f}")
                client.unban_all()
                return took

            def one_by_one(jail: str = jail):  # a new connection per call, as the client does
                for ip in ips:
                    client.call("set", jail, "banip", ip)

            def one_by_one_session(jail: str = jail):
                with client.session() as conn:
                    for ip in ips:
                        conn.call("set", jail, "banip", ip)

            def batches(jail: str = jail):
                for i in range(0, len(ips), 5000):
                    client.call("set", jail, "banip", *ips[i:i + 5000])

            def rows_written(jail: str = jail) -> float:
                """fail2ban's second floor: the same batches, and the wait
                until its own rows are written (one row and commit per ban,
                behind banip), which a single-writer archive cannot beat."""
                settled()
                since, start = int(time.time()), time.perf_counter()
                batches()
                banned = time.perf_counter() - start
                con = sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True, timeout=30)
                try:
                    while con.execute("SELECT count(*) FROM bans WHERE jail = ? AND "
                                      "timeofban >= ?", (jail, since)).fetchone()[0] < len(ips):
                        time.sleep(0.2)  # each read delays fail2ban's commits
                finally:
                    con.close()
                took = time.perf_counter() - start
                print(f"{jail:<12}{'  same, until its rows are written':<34}{'':>10}{'':>8}"
                      f"{banned:>9.3f}{took - banned:>9.3f}{took:>9.3f}")
                client.unban_all()
                return took

            if jail == "bl-noaction" and args.skip_one_by_one:
                batched = raw("raw, 5,000-IP banip batches", batches)
                written = rows_written()
                print(f"{'':<12}BanGUI total / raw batches = {t['total'] / batched:.2f}x; "
                      f"/ raw batches and fail2ban's rows = {t['total'] / written:.2f}x")
            elif jail == "bl-noaction":
                floor = raw("raw socket, one banip per IP", one_by_one)
                session = raw("  same, all on one connection", one_by_one_session)
                batched = raw("  raw, 5,000-IP banip batches", batches)
                written = rows_written()
                print(f"{'':<12}BanGUI is {floor / t['total']:.1f}x faster than one banip per "
                      f"IP (target 5x; {session / t['total']:.1f}x against one connection); "
                      f"BanGUI total / raw batches = {t['total'] / batched:.2f}x; "
                      f"/ raw batches and fail2ban's rows = {t['total'] / written:.2f}x")
            else:
                floor = raw("raw socket, one bulk banip", lambda jail=jail: client.call(
                    "set", jail, "banip", *ips))
                print(f"{'':<12}BanGUI total / floor = {t['total'] / floor:.2f}x (target 1.1x)")
        for note in notes:
            print(note)
    finally:
        httpd.shutdown()


if __name__ == "__main__":
    main()
