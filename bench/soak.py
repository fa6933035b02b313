"""Soak: BanGUI for N minutes under load and faults, then "nothing lost,
nothing locked" checked (issue #24).

    .venv/bin/python bench/soak.py [--db sqlite|postgres|both] [--minutes 30]
                                   [--quick | --ci] [--postgres-url URL] [--run-dir DIR]

Per database (SQLite file, then a throwaway PostgreSQL database on the
server of --postgres-url), one single-host installation (node ``soak``): a
sandboxed fail2ban-server (jail ``sshd`` with the dummy action, jail
``blocklist-import`` without actions), ``manage.py setup`` (an admin),
gunicorn (``--workers 4``, ``--timeout 60`` as the container runs it) and
``manage.py qcluster`` (BANGUI_NODE=soak, ticks and schedules as deployed).

Load, for the whole run:

- 8 clients (3 with --ci), each signed in, browsing a mix of pages with
  about a second of thought between them: the dashboard (windows, filters,
  the ban table fragment), IP pages, the map, the jails list, the sshd jail
  page, /nodes/ and the node's page, the status bar, the blocklists;
- 2 operators (1 with --ci) banning and unbanning through the dashboard's
  forms (CSRF, HTMX) and adding/removing ignore-list entries on the jail page;
- fail2ban banning on its own: 3 failed-login lines per new IP appended to
  the sshd jail's log, ~50 bans a minute;
- a blocklist (a local HTTP server: 90 % of its lines the same every time,
  10 % new) configured as a BlocklistSource: its first import comes from
  the worker's schedule, then "Import now" through the web every 5 minutes
  (100,000 lines; --ci: one import of 10,000 lines).

Faults on a timetable (printed; --ci: each once, shorter): fail2ban
restarted every 3 minutes; stopped for 30 s once; the worker's main process
SIGKILLed and started again once; fail2ban hung (SIGSTOP) for 20 s once;
PostgreSQL restarted once (``pg_ctlcluster``, the PostgreSQL run only); a
backup taken mid-run (``manage.py backup``; ``pg_dump`` on PostgreSQL) and
restored afterwards into a scratch copy (``manage.py restore``, which runs
``check_backup``; ``pg_restore`` into a scratch database).

At the end (load stopped, the worker idle and stopped, ``manage.py
sync_bans``), checks, printed as a table and asserted (exit code 1 when one
fails): no HTTP 5xx and no request without an answer; no "database is
locked" and no traceback in the gunicorn and worker logs; every ban in
fail2ban's own ``bans`` table archived exactly once (node, jail, IP, start)
with the right origin (and the admin as actor for the operators' bans), and
every unban the audit trail calls done marked in the archive; no import run
left "running"; no audit entry left "pending"; the restored backup passes
``check_backup`` and holds every row committed before it was taken. Also
printed: p50/p99 of each page, and the PSS of the worker and of each web
worker at start and end (growth beyond 10 % flagged; a failure only in runs
of 30 minutes or more: shorter runs still fill caches).

Everything (logs of gunicorn, the worker, fail2ban, each fault, the report)
stays in the run directory, printed at the start (default
var/soak/<UTC time>/).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load as bench_load  # noqa: E402
from bench.fleet import pss_kib  # noqa: E402
from jails.fail2ban.testing import Sandbox, SandboxJail, sshd_failure_line  # noqa: E402

PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
NODE = "soak"
BLOCKLIST_JAIL = "blocklist-import"
ADMIN = "admin"
PASSWORD = bench_load.PASSWORD
PG_URL_FILE = ROOT / ".venv" / ".bangui-test-postgres-url"


# --- the plan ------------------------------------------------------------------------
@dataclass
class Profile:
    mode: str  # full, quick, ci
    seconds: float
    web_workers: int
    clients: int
    operators: int
    import_lines: int
    import_every: float  # seconds; 0: only the scheduled first import
    bans_per_minute: int = 50
    restart_every: float = 180
    down_seconds: float = 30
    hang_seconds: float = 20
    # Memory "at start" is taken after this. The full and quick runs take it
    # at half-time: the caches (geo, the rollup's days, the live state) are
    # bounded and fill while the first imports run; what grows after that is
    # a leak. A sample every 5 minutes is printed, from the first minute on.
    warmup: float = 60


def profile(args) -> Profile:
    if args.ci:
        p = Profile("ci", 120, 2, 3, 1, 10_000, 0, restart_every=0, down_seconds=10,
                    hang_seconds=10, warmup=25)
    elif args.quick:
        p = Profile("quick", 8 * 60, 4, 8, 2, 100_000, 300)
    else:
        p = Profile("full", 30 * 60, 4, 8, 2, 100_000, 300)
    if args.minutes:
        p.seconds = args.minutes * 60
    if not args.ci:
        p.warmup = p.seconds / 2
    return p


@dataclass
class Event:
    at: float  # seconds after the start
    name: str
    arg: float = 0
    lane: str = "fault"  # each lane one event at a time: fault (fail2ban, PostgreSQL),
    # worker (its kill and restart), work (imports, the backup)
    mid_import: bool = False  # worker-kill: once an import run is under way


def timetable(p: Profile, db: str) -> list[Event]:
    d = p.seconds
    if p.mode == "ci":
        # The worker's restart waits out its lease (30 s) in its own lane.
        events = [Event(5, "import-now", lane="work"),
                  Event(45, "worker-kill", lane="worker"), Event(25, "f2b-restart"),
                  Event(38, "f2b-down", p.down_seconds), Event(62, "backup", lane="work"),
                  Event(70, "f2b-hang", p.hang_seconds)]
        if db == "postgres":
            events.append(Event(88, "pg-restart"))
        return sorted(events, key=lambda e: e.at)
    # fail2ban restarts every restart_every seconds; the one-off faults of
    # the same lane in the free slots a minute away from a restart, near
    # 30 %, 62 % and 75 % of the run.
    restarts = [t * p.restart_every for t in range(1, int(d // p.restart_every) + 1)
                if t * p.restart_every < d - 30] if p.restart_every else []
    slots = sorted(t for k in range(int(d // 60) + 1) for t in (60 * k,)
                   if 0 < t < d - 45 and all(abs(t - r) >= 60 for r in restarts))
    events = [Event(r, "f2b-restart") for r in restarts]
    wanted = [(0.30, "f2b-down", p.down_seconds), (0.62, "f2b-hang", p.hang_seconds)]
    if db == "postgres":
        wanted.append((0.75, "pg-restart", 0))
    for share, name, arg in wanted:
        slot = min(slots, key=lambda t, at=share * d: abs(t - at))
        slots.remove(slot)
        events.append(Event(slot, name, arg))
    events.append(Event(0.5 * d, "backup", lane="work"))
    # "Import now" every import_every seconds (the schedule's own import
    # starts the run), half a minute before each 5-minute mark.
    imports = []
    t = p.import_every - 30
    while p.import_every and t < d - 150:  # every import finishes inside the run
        imports.append(t)
        events.append(Event(t, "import-now", lane="work"))
        t += p.import_every
    # The worker is killed once, in the middle of the first web import (a
    # 100,000-line run takes ~40 s; its run must not stay "running").
    events.append(Event(imports[0] + 1 if imports else 0.45 * d, "worker-kill",
                        lane="worker", mid_import=bool(imports)))
    return sorted(events, key=lambda e: e.at)


# --- small helpers -------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else 0.0


def ipv4(base: str, n: int) -> str:
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(base)) + n))


def detected_ip(n: int) -> str:
    return ipv4("41.60.0.1", n)


def operator_ip(k: int, n: int) -> str:
    return ipv4("77.88.0.1", k * 65536 + n)


def blocklist_body(lines: int, request: int) -> bytes:
    """90 % the same addresses every time, 10 % new on each request."""
    stable = lines - lines // 10
    ips = [ipv4("20.0.0.1", 3 * i) for i in range(stable)]
    ips += [ipv4("31.0.0.1", request * (lines // 10) + i) for i in range(lines // 10)]
    return ("# soak bench list\n" + "\n".join(ips) + "\n").encode()


class ListServer:
    def __init__(self, lines: int) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = blocklist_body(lines, outer.requests)
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/soak-list.txt"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def run_logged(cmd: list[str], env: dict | None, log: Path, timeout: float = 600,
               stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, input=stdin)
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}(exit {done.returncode})\n")
    return done


# --- the database the checks read ----------------------------------------------------
class DB:
    """Short connections (PostgreSQL restarts under the bench); SQL with
    ``?`` placeholders."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind, self.where = kind, where

    def epoch(self, column: str) -> str:
        if self.kind == "sqlite":
            return f"CAST(strftime('%s', {column}) AS INTEGER)"
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"

    def rows(self, sql: str, params: tuple = (), attempts: int = 30) -> list[tuple]:
        for attempt in range(attempts):
            try:
                if self.kind == "sqlite":
                    con = sqlite3.connect(f"file:{self.where}?mode=ro", uri=True, timeout=60)
                    try:
                        return con.execute(sql, params).fetchall()
                    finally:
                        con.close()
                import psycopg

                with psycopg.connect(self.where, autocommit=True, connect_timeout=5) as con:
                    return con.execute(sql.replace("?", "%s"), params).fetchall()
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(1)
        return []


# --- HTTP ------------------------------------------------------------------------------
@dataclass
class Sample:
    at: float  # when it was sent, seconds after the start
    label: str
    status: int  # 0: no answer
    ms: float
    error: str = ""


class Web:
    def __init__(self, port: int, t0: float) -> None:
        self.port, self.t0 = port, t0
        self.samples: list[Sample] = []
        self.lock = threading.Lock()

    def session(self) -> dict:
        for attempt in range(10):
            try:
                cookie = bench_load.login(self.port)
                break
            except Exception:
                if attempt == 9:
                    raise
                time.sleep(2)
        csrf = cookie.split("csrftoken=")[1].split(";")[0]
        return {"Cookie": cookie, "X-CSRFToken": csrf,
                "Referer": f"http://127.0.0.1:{self.port}/"}

    def call(self, label: str, path: str, headers: dict, method: str = "GET",
             form: dict | None = None, fragment: bool = False) -> tuple[int, bytes]:
        head = {"Cookie": headers["Cookie"]}
        body = None
        if method == "POST":
            head.update({"X-CSRFToken": headers["X-CSRFToken"], "Referer": headers["Referer"],
                         "Content-Type": "application/x-www-form-urlencoded"})
            body = urlencode(form or {})
        if fragment:
            head["HX-Request"] = "true"
        at = time.monotonic() - self.t0
        start = time.perf_counter()
        status, data, error = 0, b"", ""
        try:
            answer = bench_load.request(self.port, path, head, method, body)
            status, data = answer.status, answer.body
            if status >= 500:  # what the page said, for the report
                text = re.sub(rb"<[^>]+>|\s+", b" ", data).decode(errors="replace")
                error = text.strip()[:200]
        except Exception as exc:  # no answer: counted
            error = f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - start) * 1000
        with self.lock:
            self.samples.append(Sample(at, label, status, ms, error))
        return status, data


def page_mix(recent: list[str], listed: list[str]) -> list[tuple[str, str, bool, int]]:
    """(label, path, htmx fragment, weight)."""
    ip = random.choice(recent) if recent else "41.60.0.1"
    bl = random.choice(listed) if listed else "20.0.0.1"
    return [
        ("dashboard 24h", "/", False, 3),
        ("dashboard 7d", "/?window=7d", False, 1),
        ("dashboard 30d jail=sshd", "/?window=30d&jail=sshd", False, 1),
        ("dashboard 24h origin=blocklist", "/?window=24h&origin=blocklist", False, 1),
        ("ban table fragment p2", "/?window=7d&page=2", True, 1),
        ("IP page (detected)", f"/ip/{ip}/", False, 2),
        ("IP page (blocklist)", f"/ip/{bl}/", False, 1),
        ("map 7d", "/map/?window=7d", False, 1),
        ("jails", "/jails/", False, 1),
        ("jail sshd", "/jails/sshd/", False, 1),
        ("nodes", "/nodes/", False, 1),
        (f"node {NODE}", f"/nodes/{NODE}/", False, 1),
        ("status bar", "/status/", True, 1),
        ("blocklists", "/blocklists/", False, 1),
    ]


# --- one run ---------------------------------------------------------------------------
@dataclass
class Check:
    name: str
    ok: bool | None  # None: information; "WARN" rows use warn
    figures: str
    warn: bool = False

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "WARN" if self.warn else "INFO"
        return "PASS" if self.ok else "FAIL"


@dataclass
class Run:
    db: str
    p: Profile
    dir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    faults: list[dict] = field(default_factory=list)
    detected: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backup: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    killed: set = field(default_factory=set)
    t0: float = 0
    worker_exits: list[dict] = field(default_factory=list)

    def note(self, text: str) -> None:
        line = f"[{self.db} {time.strftime('%H:%M:%S')}] {text}"
        print(line, flush=True)
        with (self.dir / "events.log").open("a") as fh:
            fh.write(line + "\n")


def postgres_admin_url(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("BANGUI_TEST_POSTGRES_URL"):
        return os.environ["BANGUI_TEST_POSTGRES_URL"]
    if PG_URL_FILE.exists():
        return PG_URL_FILE.read_text().strip()
    return "postgres://postgres@127.0.0.1:5432/postgres"


@contextmanager
def gunicorn(env: dict, workers: int, log: Path):
    """gunicorn as the container starts it, everything it and Django write in ``log``."""
    fh = log.open("a")
    proc = subprocess.Popen(
        [GUNICORN, "bangui.wsgi", "--workers", str(workers), "--bind", "127.0.0.1:0",
         "--timeout", "60", "--graceful-timeout", "20", "--error-logfile", "-"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        port = None
        while port is None:
            text = log.read_text()
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{text[-3000:]}")
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
            if found and text.count("Booting worker") >= workers:
                port = int(found.group(1))
            time.sleep(0.2)
        proc.port = port
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        fh.close()


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return sorted(out)


def own_pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def start_worker(run: Run, env: dict) -> subprocess.Popen:
    n = len(run.workers) + 1
    log = (run.dir / f"worker-{n}.log").open("w")
    proc = subprocess.Popen([PY, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    proc.started = time.monotonic()
    run.workers.append(proc)
    return proc


def stop_worker(proc: subprocess.Popen, timeout: float = 60) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def pg_cluster(url: str) -> tuple[str, str] | None:
    """(version, cluster) of the local Debian cluster serving ``url``'s port."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    if info.get("host") not in (None, "", "127.0.0.1", "localhost", "::1"):
        return None
    port = str(info.get("port") or 5432)
    try:
        out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == port:
            return parts[0], parts[1]
    return None


def table_ids(db: DB) -> dict[str, set[int]]:
    return {t: {r[0] for r in db.rows(f"SELECT id FROM {t}")}  # noqa: S608 (fixed names)
            for t in ("jails_banevent", "accounts_auditentry", "jails_importrun")}


def run_one(db_kind: str, p: Profile, base_dir: Path, pg_admin: str
            ) -> tuple[list[Check], list[str]]:
    rdir = base_dir / db_kind
    rdir.mkdir(parents=True)
    run = Run(db_kind, p, rdir)
    box = Sandbox(rdir / "f2b", jails=(
        SandboxJail("sshd", "sshd", "auth.log"),
        SandboxJail(BLOCKLIST_JAIL, "sshd", "blocklist.log", actions=False, bantime=86400),
    ))
    with ExitStack() as stack:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(rdir),
               "BANGUI_LOG_LEVEL": "INFO", "BANGUI_SECRET_KEY": secrets.token_urlsafe(40),
               "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
               "PYTHONUNBUFFERED": "1", "BANGUI_NODE": NODE,
               "BANGUI_DATA_DIR": str(rdir / "data"),
               "BANGUI_FAIL2BAN_SOCKET": str(box.socket),
               "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir),
               "BANGUI_BLOCKLIST_ALLOW_PRIVATE": "1",  # the list server is on loopback
               "DATABASE_URL": ""}
        if db_kind == "postgres":
            env["DATABASE_URL"] = stack.enter_context(bench_load.postgres_database(pg_admin))
            db = DB("postgres", env["DATABASE_URL"])
        else:
            db = DB("sqlite", str(rdir / "data" / "bangui.sqlite3"))
        setup_log = rdir / "setup.log"
        run.note(f"== {db_kind}: {p.mode}, {p.seconds / 60:.0f} min, gunicorn {p.web_workers} "
                 f"workers, {p.clients} clients, {p.operators} operators; logs in {rdir}")
        box.start()
        stack.callback(lambda: box.stop() if box.socket.exists() else None)
        for args in (("migrate", "--noinput", "-v", "0"),
                     ("collectstatic", "--noinput", "-v", "0")):
            done = run_logged([PY, "manage.py", *args], env, setup_log)
            if done.returncode:
                raise RuntimeError(f"manage.py {args[0]} failed: see {setup_log}")
        done = run_logged([PY, "manage.py", "setup", "--username", ADMIN, "--password-file", "-",
                           "--socket", str(box.socket)], env, setup_log, stdin=PASSWORD + "\n")
        if done.returncode:
            raise RuntimeError(f"manage.py setup failed: see {setup_log}")
        lists = ListServer(p.import_lines)
        stack.callback(lists.close)
        stable = p.import_lines - p.import_lines // 10
        run.listed = [ipv4("20.0.0.1", 3 * i)
                      for i in range(0, stable, max(1, p.import_lines // 200))]
        # The source, enabled: the worker's schedule imports it first (it never ran).
        code = ("from blocklists.models import BlocklistSource as S; "
                f"s = S.objects.create(name='soak', url={lists.url!r}, jail={BLOCKLIST_JAIL!r}, "
                "interval_minutes=10080); print(s.pk)")
        done = run_logged([PY, "manage.py", "shell", "-c", code], env, setup_log)
        if done.returncode:
            raise RuntimeError(f"creating the blocklist source failed: see {setup_log}")
        source_pk = int(done.stdout.strip().splitlines()[-1])

        t0 = run.t0 = time.monotonic()
        start_worker(run, env)
        stack.callback(lambda: [stop_worker(w, 30) for w in run.workers])
        web_proc = stack.enter_context(gunicorn(env, p.web_workers, rdir / "gunicorn.log"))
        web = Web(web_proc.port, t0)
        run.note(f"gunicorn on 127.0.0.1:{web_proc.port}, worker pid {run.workers[0].pid}, "
                 f"fail2ban pid {box.pidfile.read_text().strip()}, list at {lists.url}")
        events = timetable(p, db_kind)
        run.note("timetable: " + ", ".join(
            f"{e.at:.0f}s {e.name}{f' {e.arg:.0f}s' if e.arg else ''}" for e in events))

        threads = [threading.Thread(target=detections, args=(run, box), daemon=True),
                   threading.Thread(target=supervise, args=(run, env), daemon=True)]
        for k in range(p.clients):
            threads.append(threading.Thread(target=client, args=(run, web, k), daemon=True))
        for k in range(p.operators):
            threads.append(threading.Thread(target=operator, args=(run, web, k), daemon=True))
        ctx = {"env": env, "box": box, "web": web, "db": db, "source": source_pk,
               "pg_admin": pg_admin, "t0": t0}
        for lane in ("fault", "worker", "work"):
            threads.append(threading.Thread(
                target=lane_runner, args=(run, [e for e in events if e.lane == lane], ctx),
                daemon=True))
        for t in threads:
            t.start()
        stack.callback(run.stop.set)  # first on the way out: no restart while stopping
        memory_at = t0 + p.warmup
        series_at = t0 + 60
        while time.monotonic() < t0 + p.seconds:
            if time.monotonic() >= series_at and run.workers[-1].poll() is None:
                series_at += 300
                run.note(f"memory after {(time.monotonic() - t0) / 60:.0f} min: "
                         f"{fmt_memory(sample_memory(run, web_proc))}")
            if (memory_at and time.monotonic() >= memory_at and run.workers[-1].poll() is None
                    and not importing(db)):  # between imports: not a task's own peak
                memory_at = 0
                run.memory["start"] = sample_memory(run, web_proc)
                run.memory["worker_restart_at"] = 0  # this sample is already the successor's
                run.note(f"memory at start: {fmt_memory(run.memory['start'])}")
            restarted = run.memory.get("worker_restart_at")
            if restarted and "start" in run.memory and time.monotonic() >= restarted + p.warmup:
                # The killed worker's successor: its own start, after the same warm-up.
                run.memory["worker_first"] = run.memory["start"]["worker"]
                run.memory["start"]["worker"] = sample_memory(run, web_proc)["worker"]
                run.memory["worker_restart_at"] = 0
                run.note(f"memory of the new worker at its start: "
                         f"{run.memory['start']['worker'][1] / 1024:.0f} MiB")
            time.sleep(1)
        run.stop.set()
        for t in threads:
            t.join(timeout=300)
        run.note("load stopped; waiting for fail2ban's db and the worker to settle")
        settle(run, box, db)
        # Like "start", between imports (settle waited for the last one): a
        # worker in the middle of a 100,000-line import is at that task's
        # peak, which max_rss gives back after the task.
        run.memory["end"] = sample_memory(run, web_proc)
        run.note(f"memory at end: {fmt_memory(run.memory['end'])}")
        worker_stopped = time.monotonic()
        stop_worker(run.workers[-1])
        run.note(f"worker stopped in {time.monotonic() - worker_stopped:.1f} s "
                 f"(exit {run.workers[-1].returncode})")
        sync = run_logged([PY, "manage.py", "sync_bans"], env, rdir / "sync_bans.log")
        run.note(f"final sync_bans: exit {sync.returncode}: {sync.stdout.strip()[-300:]}")
        gunicorn_workers = children(web_proc.pid)
        web_proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            web_proc.wait(timeout=30)
        restored = restore_backup(run, env, db_kind, pg_admin)
        checks = evaluate(run, box, db, web, sync, restored, gunicorn_workers)
    return checks, page_table(web)


# --- load threads ----------------------------------------------------------------------
def detections(run: Run, box: Sandbox) -> None:
    """fail2ban bans on its own: 3 failed logins per new IP, ~bans_per_minute."""
    gap = 60 / run.p.bans_per_minute
    n = 0
    log = box.log_path("sshd")
    next_at = time.monotonic()
    while not run.stop.is_set():
        ip = detected_ip(n)
        n += 1
        with log.open("a") as fh:
            fh.write(sshd_failure_line(ip) * 3)
        run.detected.append(ip)
        next_at += gap
        run.stop.wait(max(0, next_at - time.monotonic()))


def client(run: Run, web: Web, k: int) -> None:
    rng = random.Random(k)
    headers = web.session()
    while not run.stop.is_set():
        mix = page_mix(run.detected[-300:], run.listed)
        label, path, fragment, _ = rng.choices(mix, weights=[m[3] for m in mix])[0]
        web.call(label, path, headers, fragment=fragment)
        run.stop.wait(rng.uniform(0.5, 1.5))


def operator(run: Run, web: Web, k: int) -> None:
    """Ban a new IP through the dashboard's form; unban every other one;
    now and then add an address to sshd's ignore list and take it off again."""
    rng = random.Random(100 + k)
    headers = web.session()
    n = 0
    ignored: list[str] = []
    while not run.stop.is_set():
        ip = operator_ip(k, n)
        web.call("POST ban (dashboard)", "/bans/ban/", headers, "POST",
                 {"ip": ip, "jail": "sshd"}, fragment=True)
        run.stop.wait(rng.uniform(1, 3))
        if n % 2 == 1:
            web.call("POST unban (dashboard)", "/bans/unban/", headers, "POST",
                     {"ip": operator_ip(k, n - 1), "jail": "sshd"}, fragment=True)
            run.stop.wait(rng.uniform(1, 3))
        if n % 5 == 2:
            value = f"192.0.2.{k * 100 + n % 100}"
            web.call("POST ignore add (jail)", "/jails/sshd/ignore/add/", headers, "POST",
                     {"value": value}, fragment=True)
            ignored.append(value)
            run.stop.wait(rng.uniform(1, 2))
        elif n % 5 == 4 and ignored:
            web.call("POST ignore remove (jail)", "/jails/sshd/ignore/remove/", headers,
                     "POST", {"value": ignored.pop(0)}, fragment=True)
            run.stop.wait(rng.uniform(1, 2))
        n += 1


# --- faults and work -------------------------------------------------------------------
def lane_runner(run: Run, events: list[Event], ctx: dict) -> None:
    t0 = ctx["t0"]
    for event in events:
        while time.monotonic() < t0 + event.at:
            if run.stop.wait(0.2):
                return
        start = time.monotonic()
        record = {"name": event.name, "at": start - t0, "end": None, "ok": True, "note": ""}
        run.faults.append(record)
        run.note(f"fault/work: {event.name} {f'{event.arg:.0f} s ' if event.arg else ''}begins")
        try:
            record["note"] = FAULTS[event.name](run, ctx, event) or ""
        except Exception as exc:
            record["ok"] = False
            record["note"] = f"{type(exc).__name__}: {exc}"
            with (run.dir / "events.log").open("a") as fh:
                traceback.print_exc(file=fh)
        record["end"] = time.monotonic() - t0
        run.note(f"fault/work: {event.name} ends after {record['end'] - record['at']:.1f} s"
                 f"{'' if record['ok'] else ' FAILED'}: {record['note']}")


def f2b_restart(run: Run, ctx: dict, event: Event) -> str:
    box = ctx["box"]
    box.stop()
    box.start(timeout=120)
    return f"fail2ban pid now {box.pidfile.read_text().strip()}"


def f2b_down(run: Run, ctx: dict, event: Event) -> str:
    box = ctx["box"]
    box.stop()
    time.sleep(event.arg)
    box.start(timeout=120)
    return f"stopped {event.arg:.0f} s; pid now {box.pidfile.read_text().strip()}"


def f2b_hang(run: Run, ctx: dict, event: Event) -> str:
    pid = int(ctx["box"].pidfile.read_text().strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(event.arg)
    finally:
        os.kill(pid, signal.SIGCONT)
    return f"SIGSTOP/SIGCONT pid {pid}"


def worker_kill(run: Run, ctx: dict, event: Event) -> str:
    """SIGKILL the worker's main process; the supervisor (systemd's
    Restart=on-failure, RestartSec=10) starts it again, and again, until the
    dead one's lease expires and the new one takes it."""
    db = ctx["db"]
    how = ""
    if event.mid_import:  # a few seconds into the run "Import now" queued
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not db.rows(
                "SELECT count(*) FROM jails_importrun WHERE status = 'running'")[0][0]:
            time.sleep(0.5)
        time.sleep(3)
        running = db.rows("SELECT count(*) FROM jails_importrun WHERE status = 'running'")[0][0]
        how = f" with {running} import run under way"
    old = run.workers[-1]
    run.killed.add(old.pid)
    os.kill(old.pid, signal.SIGKILL)
    start = time.monotonic()
    while time.monotonic() < start + 180:
        holder = node_holder(db)
        holder = holder[0][0] if holder else ""
        new = [w for w in run.workers if w.pid != old.pid and f":{w.pid}:" in (holder or "")]
        if new:
            run.memory["worker_restart_at"] = time.monotonic()
            return (f"SIGKILL pid {old.pid}{how}; pid {new[0].pid} took the lease after "
                    f"{time.monotonic() - start:.0f} s ({len(run.workers) - 1} starts so far)")
        time.sleep(1)
    raise RuntimeError("no restarted worker took the lease in 180 s")


def node_holder(db: DB) -> list[tuple]:
    """The lease holder of this node (the nodes' table: bangui_node, or
    nodes_node should the model move)."""
    for table in ("bangui_node", "nodes_node"):
        try:
            return db.rows(f"SELECT holder FROM {table} WHERE name = ?",  # noqa: S608
                           (NODE,), attempts=1)
        except Exception:  # noqa: S112 (no such table: the next name)
            continue
    return []


def supervise(run: Run, env: dict) -> None:
    """systemd's Restart=on-failure, RestartSec=10 (docs/deployment/bangui-worker.service)."""
    while not run.stop.is_set():
        current = run.workers[-1]
        if current.poll() is None:
            run.stop.wait(0.5)
            continue
        log = run.dir / f"worker-{len(run.workers)}.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        run.worker_exits.append({"pid": current.pid, "code": current.returncode,
                                 "at": time.monotonic(), "last": tail[0][:300] if tail else "",
                                 "killed": current.pid in run.killed})
        run.note(f"worker pid {current.pid} exited {current.returncode}: "
                 f"{tail[0][:160] if tail else ''}")
        if run.stop.wait(10):
            return
        start_worker(run, env)


def pg_restart(run: Run, ctx: dict, event: Event) -> str:
    cluster = pg_cluster(ctx["pg_admin"])
    if cluster is None and run.p.mode == "ci":  # CI's PostgreSQL may be another kind
        return "skipped: no local Debian cluster serves the PostgreSQL URL"
    if cluster is None:
        raise RuntimeError("no local Debian cluster serves the PostgreSQL URL")
    done = subprocess.run(["pg_ctlcluster", *cluster, "restart"], capture_output=True,
                          text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"pg_ctlcluster restart: {done.stderr.strip()}")
    return f"pg_ctlcluster {' '.join(cluster)} restart"


def backup(run: Run, ctx: dict, event: Event) -> str:
    db, env = ctx["db"], ctx["env"]
    before = table_ids(db)  # committed before the backup starts: must all be in it
    run.backup["before"] = before
    target = run.dir / "backup"
    target.mkdir()
    if run.db == "sqlite":
        done = run_logged([PY, "manage.py", "backup", str(target)], env, run.dir / "backup.log")
        if done.returncode:
            raise RuntimeError(f"manage.py backup failed: {done.stderr.strip()[-500:]}")
        run.backup["file"] = next(target.glob("bangui-*.sqlite3"))
    else:
        path = target / "bangui.dump"
        done = run_logged(["pg_dump", "--format=custom", f"--dbname={env['DATABASE_URL']}",
                           f"--file={path}"], None, run.dir / "backup.log")
        if done.returncode:
            raise RuntimeError(f"pg_dump failed: {done.stderr.strip()[-500:]}")
        run.backup["file"] = path
    return (f"{run.backup['file'].name}, {run.backup['file'].stat().st_size:,} bytes; rows "
            "before: " + ", ".join(f"{t} {len(ids):,}" for t, ids in before.items()))


def import_now(run: Run, ctx: dict, event: Event) -> str:
    web = ctx["web"]
    headers = web.session()
    status, _ = web.call("POST import now (blocklists)", f"/blocklists/{ctx['source']}/import/",
                         headers, "POST", {})
    if status != 302:
        raise RuntimeError(f"Import now answered HTTP {status}")
    return "queued through the web"


FAULTS = {"f2b-restart": f2b_restart, "f2b-down": f2b_down, "f2b-hang": f2b_hang,
          "worker-kill": worker_kill, "pg-restart": pg_restart, "backup": backup,
          "import-now": import_now}


def sample_memory(run: Run, web_proc) -> dict:
    worker = run.workers[-1]
    return {"worker": (worker.pid, pss_kib(worker.pid)),
            "web": {pid: own_pss(pid) for pid in children(web_proc.pid)}}


def fmt_memory(m: dict) -> str:
    web = ", ".join(f"{pid}: {kib / 1024:.0f}" for pid, kib in m["web"].items())
    return f"worker (pid {m['worker'][0]}, tree) {m['worker'][1] / 1024:.0f} MiB; web {web} MiB"


def importing(db: DB) -> bool:
    return bool(db.rows("SELECT count(*) FROM jails_importrun WHERE status = 'running'")[0][0])


def settle(run: Run, box: Sandbox, db: DB) -> None:
    """fail2ban has read the last lines and written its bans; the worker has
    no task queued and no import running (up to 4 minutes)."""
    time.sleep(3)
    last, stable = -1, 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stable < 3:
        count = f2b_rows_count(box)
        stable = stable + 1 if count == last else 0
        last = count
        time.sleep(1)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        # Waiting tasks only: a row in flight has its lock in the future (the
        # one the SIGKILLed worker had pulled stays so for the broker's retry,
        # 600 s, before it is handed out again).
        now = datetime.now(UTC)
        queued = db.rows("SELECT count(*) FROM django_q_ormq WHERE lock <= ?", (
            now.strftime("%Y-%m-%d %H:%M:%S.%f") if db.kind == "sqlite" else now,))[0][0]
        running = db.rows("SELECT count(*) FROM jails_importrun WHERE status = 'running'")[0][0]
        if not queued and not running:
            break
        time.sleep(2)
    time.sleep(6)  # one more tick of the worker


def f2b_rows_count(box: Sandbox) -> int:
    try:
        con = sqlite3.connect(f"file:{box.dbfile}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute("SELECT count(*) FROM bans").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


# --- the backup, restored ----------------------------------------------------------------
def restore_backup(run: Run, env: dict, db_kind: str, pg_admin: str) -> dict:
    if "file" not in run.backup:
        return {"ok": False, "note": "no backup was taken"}
    log = run.dir / "restore.log"
    if db_kind == "sqlite":
        scratch = run.dir / "restored"
        scratch.mkdir()
        renv = {**env, "BANGUI_DATA_DIR": str(scratch), "DATABASE_URL": ""}
        done = run_logged([PY, "manage.py", "restore", str(run.backup["file"]), "--yes"], renv,
                          log)
        if done.returncode:
            return {"ok": False, "note": f"manage.py restore (check_backup) refused: "
                                         f"{(done.stderr or done.stdout).strip()[-400:]}"}
        # check_backup itself on the file, as restore runs it (no command of its own).
        code = ("from pathlib import Path; from bangui.backup import "
                f"check_backup; c, behind = check_backup(Path({str(run.backup['file'])!r})); "
                "print('check_backup ok; migrations behind:', len(behind))")
        check = run_logged([PY, "manage.py", "shell", "-c", code], renv, log)
        if check.returncode:
            return {"ok": False, "note": f"check_backup failed: {check.stderr.strip()[-400:]}"}
        restored = DB("sqlite", str(scratch / "bangui.sqlite3"))
        how = "manage.py restore --yes (check_backup ok) into a scratch data dir"
        return compare_restored(run, restored, how)
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"bangui_soak_restore_{secrets.token_hex(4)}"
    admin = make_conninfo(**{**conninfo_to_dict(pg_admin), "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pg_admin.rsplit("/", 1)[0] + "/" + name
    try:
        done = run_logged(["pg_restore", "--no-owner", f"--dbname={url}",
                           str(run.backup["file"])], None, log)
        if done.returncode:
            return {"ok": False, "note": f"pg_restore failed: {done.stderr.strip()[-400:]}"}
        return compare_restored(run, DB("postgres", url), "pg_restore into a scratch database")
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                        .format(sql.Identifier(name)))


def compare_restored(run: Run, restored: DB, how: str) -> dict:
    after = table_ids(restored)
    missing = {t: len(ids - after[t]) for t, ids in run.backup["before"].items()}
    figures = ", ".join(f"{t} {len(run.backup['before'][t]):,} before/{len(after[t]):,} in it"
                        for t in after)
    return {"ok": not any(missing.values()),
            "note": f"{how}; {figures}; missing {missing}"}


# --- the checks ------------------------------------------------------------------------
def active_faults(run: Run, at: float) -> str:
    names = [f["name"] for f in run.faults if f["at"] - 1 <= at <= (f["end"] or 1e9) + 2
             and f["name"] not in ("import-now",)]
    return "+".join(names) or "none"


def scan_logs(run: Run) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """("database is locked" lines, (log, traceback) pairs, gunicorn worker timeouts)."""
    locked, tracebacks, timeouts = [], [], []
    for path in sorted(run.dir.glob("gunicorn.log")) + sorted(run.dir.glob("worker-*.log")):
        lines = path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if "database is locked" in line.lower():
                locked.append(f"{path.name}:{i + 1}: {line[:300]}")
            if "WORKER TIMEOUT" in line:
                timeouts.append(f"{path.name}:{i + 1}: {line[:300]}")
        i = 0
        while i < len(lines):
            if "Traceback (most recent call last)" not in lines[i]:
                i += 1
                continue
            # One logged error: its traceback and the ones chained to it
            # (django-q writes a failed task's on its "Failed '…'" line).
            start, j = i, i
            while True:
                j += 1
                while j < len(lines) and (lines[j].startswith((" ", "\t", "Traceback"))
                                          or not lines[j].strip()):
                    j += 1
                k = j + 1
                while k < len(lines) and not lines[k].strip():
                    k += 1
                if k < len(lines) and lines[k].startswith(("During handling",
                                                           "The above exception")):
                    j = k
                    continue
                break
            last = lines[j] if j < len(lines) else ""
            head = (lines[start] if not lines[start].startswith("Traceback")
                    else lines[start - 1] if start else "")
            tracebacks.append((f"{path.name}:{start + 1}", f"{head[:200]} => {last[:300]}",
                               "\n".join(lines[max(0, start - 1):j + 1])))
            i = j + 1
    return locked, tracebacks, timeouts


def evaluate(run: Run, box: Sandbox, db: DB, web: Web, sync, restored: dict,
             gunicorn_workers: list[int]) -> list[Check]:
    checks: list[Check] = []
    detail = run.dir / "details.txt"
    out = detail.open("w")

    # HTTP (every request in requests.csv)
    samples = web.samples
    with (run.dir / "requests.csv").open("w") as fh:
        fh.write("at_s,page,status,ms,faults,error\n")
        for x in samples:
            fh.write(f"{x.at:.1f},{x.label},{x.status},{x.ms:.0f},{active_faults(run, x.at)},"
                     f"\"{x.error[:120].replace(chr(34), chr(39))}\"\n")
    bad = [s for s in samples if s.status >= 500]
    silent = [s for s in samples if s.status == 0]
    codes = Counter(s.status for s in bad)
    checks.append(Check("HTTP 5xx", not bad, f"{len(bad)} of {len(samples):,} requests" + (
        " (" + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())) + ")" if bad else "") + (
        "; " + "; ".join(f"{s.label} {s.status} at {s.at:.0f}s (fault: {active_faults(run, s.at)})"
                         for s in bad[:5]) if bad else "")))
    checks.append(Check("requests without an answer", not silent, f"{len(silent)}" + (
        "; " + "; ".join(f"{s.label} at {s.at:.0f}s ({s.error[:80]}; fault: "
                         f"{active_faults(run, s.at)})" for s in silent[:5]) if silent else "")))
    for s in bad + silent:
        out.write(f"HTTP {s.status} {s.label} at {s.at:.1f}s {s.ms:.0f} ms {s.error} "
                  f"fault: {active_faults(run, s.at)}\n")

    # logs
    locked, tracebacks, timeouts = scan_logs(run)
    checks.append(Check('"database is locked" in logs', not locked, f"{len(locked)}" + (
        f"; first: {locked[0]}" if locked else "")))
    kinds = Counter(t[1].split(" => ", 1)[1] for t in tracebacks)
    checks.append(Check("tracebacks in logs (gunicorn, worker)", not tracebacks,
                        f"{len(tracebacks)}" + ("; " + "; ".join(
                            f"{n}x {k[:160]}" for k, n in kinds.most_common(4))
                            if tracebacks else "")))
    checks.append(Check("gunicorn worker timeouts", not timeouts, f"{len(timeouts)}"))
    errors = Counter()
    for path in [run.dir / "gunicorn.log", *sorted(run.dir.glob("worker-*.log"))]:
        for line in path.read_text(errors="replace").splitlines():
            found = re.match(r"\S+ \S+ (ERROR|CRITICAL) (\S+) \[[^]]*\]: (.{0,60})", line)
            if found:
                errors[f"{found[1]} {found[2]}: {found[3]}"] += 1
    checks.append(Check("ERROR/CRITICAL log lines (information)", None,
                        f"{sum(errors.values())}" + ("; " + "; ".join(
                            f"{n}x {k}" for k, n in errors.most_common(6)) if errors else "")))
    slow = sorted(samples, key=lambda x: -x.ms)[:3]
    checks.append(Check("slowest requests (information)", None, "; ".join(
        f"{x.label} {x.ms / 1000:.1f} s at {x.at:.0f}s (fault: {active_faults(run, x.at)})"
        for x in slow)))
    detected = len(run.detected)
    checks.append(Check("load (information)", None,
                        f"{len(samples):,} requests ({len(samples) / run.p.seconds:.1f}/s); "
                        f"failed logins written for {detected:,} addresses "
                        f"({detected / run.p.seconds * 60:.0f}/min)"))
    for name, summary, text in tracebacks:
        out.write(f"\n--- traceback {name}: {summary}\n{text}\n")
    for line in locked:
        out.write(f"locked: {line}\n")

    # the archive against fail2ban's own table
    con = sqlite3.connect(f"file:{box.dbfile}?mode=ro", uri=True, timeout=30)
    f2b = con.execute("SELECT jail, ip, timeofban, data FROM bans").fetchall()
    con.close()
    rows = db.rows(f"SELECT jail, ip, {db.epoch('banned_at')}, origin, actor, "  # noqa: S608
                   "unbanned_at IS NOT NULL FROM jails_banevent WHERE node = ?", (NODE,))
    by_key: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for r in rows:
        by_key[(r[0], r[1])].append(r)
    missing, twins, wrong = [], [], []
    for jail, ip, tob, data in f2b:
        near = [r for r in by_key.get((jail, ip), []) if abs(r[2] - tob) <= 5]
        exact = [r for r in near if r[2] == tob]
        if not exact:
            missing.append((jail, ip, tob))
        if len(near) > 1:
            twins.append((jail, ip, tob, len(near)))
        if exact:
            try:
                info = json.loads(data) if data else {}
            except (TypeError, ValueError):
                info = {}
            failures = int(info.get("failures") or 0)
            want = ("blocklist" if jail == BLOCKLIST_JAIL else
                    "manual" if failures == 0 and not info.get("matches") else "detected")
            got = exact[0]
            if got[3] != want or (want == "manual" and ip.startswith("77.88.")
                                  and got[4] != ADMIN):
                wrong.append((jail, ip, tob, f"origin {got[3]} actor {got[4]}, want {want}"))
    per_jail = Counter(r[0] for r in f2b)
    checks.append(Check("every fail2ban ban archived", not missing,
                        f"fail2ban rows {len(f2b):,} ("
                        + ", ".join(f"{j} {n:,}" for j, n in per_jail.items())
                        + f"); archive rows {len(rows):,}; missing {len(missing)}"
                        + (f", e.g. {missing[:3]}" if missing else "")))
    checks.append(Check("archived exactly once (no twins)", not twins,
                        f"{len(twins)}" + (f", e.g. {twins[:3]}" if twins else "")))
    # The operators: audit says done -> the archive says so.
    audit = db.rows("SELECT action, target, result, detail FROM accounts_auditentry")
    # "ok" also answers "was not banned; nothing to do": only what was done.
    banned_ok = [a[1].split()[-1] for a in audit if a[0] == "ban" and a[2] == "ok"
                 and a[1].startswith("sshd ") and (a[3] or "").startswith("Banned ")]
    unbanned_ok = [a[1].split()[-1] for a in audit if a[0] == "unban" and a[2] == "ok"
                   and a[1].startswith("sshd ") and (a[3] or "").startswith("Unbanned ")]
    for ip in banned_ok:
        if not any(r[3] == "manual" and r[4] == ADMIN for r in by_key.get(("sshd", ip), [])):
            wrong.append(("sshd", ip, None, "web ban (audit ok) has no manual row by admin"))
    for ip in unbanned_ok:
        latest = max(by_key.get(("sshd", ip), []), key=lambda r: r[2], default=None)
        if latest is None or not latest[5]:
            wrong.append(("sshd", ip, None, "web unban (audit ok) not marked in the archive"))
    checks.append(Check("archived with the right state", not wrong,
                        f"{len(wrong)} wrong; web bans ok {len(banned_ok)}, unbans ok "
                        f"{len(unbanned_ok)}" + (f", e.g. {wrong[:3]}" if wrong else "")))
    for item in missing:
        out.write(f"missing: {item}\n")
    for item in twins:
        out.write(f"twin: {item}\n")
    for item in wrong:
        out.write(f"wrong state: {item}\n")
    checks.append(Check("final manage.py sync_bans", sync.returncode == 0,
                        f"exit {sync.returncode}: {sync.stdout.strip()[-120:]}"))

    # imports
    imports = db.rows("SELECT status, count(*), sum(newly_banned), max(valid) FROM "
                      "jails_importrun GROUP BY status")
    running = sum(r[1] for r in imports if r[0] == "running")
    checks.append(Check('no import run left "running"', running == 0,
                        "; ".join(f"{r[0]} {r[1]} (newly banned {r[2] or 0:,}, lines up to "
                                  f"{r[3] or 0:,})" for r in imports) or "no run at all"))
    failed_runs = db.rows("SELECT started_at, status, error FROM jails_importrun "
                          "WHERE status <> 'ok'")
    for r in failed_runs:
        out.write(f"import run not ok: {r}\n")
    asked = sum(1 for f in run.faults if f["name"] == "import-now" and f["ok"])
    total = sum(r[1] for r in imports)
    ok_runs = sum(r[1] for r in imports if r[0] == "ok")
    no_reason = [r for r in failed_runs if r[1] == "failed" and not (r[2] or "").strip()]
    reasons = Counter((r[2] or "")[:110] for r in failed_runs if r[1] == "failed")
    checks.append(Check("imports ran: ok, or failed with a reason",
                        total >= max(1, asked) and ok_runs > 0 and not no_reason,
                        f"{total} runs ({asked} asked through the web, the rest by the "
                        f"schedule), {ok_runs} ok" + (
                            "; failed: " + "; ".join(f"{n}x {k}" for k, n in reasons.items())
                            if reasons else "")))

    # commands
    pending = db.rows("SELECT count(*) FROM accounts_auditentry WHERE result = 'pending'")[0][0]
    results = Counter(a[2] for a in audit)
    checks.append(Check('no command left "pending" (audit)', pending == 0,
                        f"pending {pending}; " + ", ".join(f"{k} {v}" for k, v in results.items())))
    refused = [a for a in audit if a[2] == "failed"]
    no_reason = [a for a in refused if not (a[3] or "").strip()]
    checks.append(Check("every refusal gives a reason", not no_reason,
                        f"{len(refused)} refused, {len(no_reason)} without a reason" + (
                            "; " + "; ".join(f"{a[0]} {a[1]}: {a[3][:90]}" for a in refused[:3])
                            if refused else "")))
    for a in refused:
        out.write(f"refused: {a}\n")

    # the backup
    checks.append(Check("backup restored, check_backup, rows up to its time",
                        restored.get("ok", False), restored.get("note", "")))

    # faults
    faults_failed = [f for f in run.faults if not f["ok"]]
    checks.append(Check("faults and work injected", not faults_failed,
                        ", ".join(f"{f['name']}@{f['at']:.0f}s" for f in run.faults) + (
                            "; FAILED: " + "; ".join(f"{f['name']}: {f['note']}"
                                                     for f in faults_failed)
                            if faults_failed else "")))

    # the worker: only the SIGKILLed one and its successors refused while the
    # dead one's lease ran may exit
    kill_done = max((f["end"] for f in run.faults if f["name"] == "worker-kill" and f["end"]),
                    default=None)
    unexpected = [e for e in run.worker_exits if not e["killed"] and not (
        "holds the lease" in e["last"] and kill_done is not None
        and e["at"] - run.t0 <= kill_done + 1)]
    checks.append(Check("worker exits only when killed", not unexpected,
                        f"{len(run.worker_exits)} exits, {len(run.workers)} starts" + (
                            "; unexpected: " + "; ".join(f"pid {e['pid']} exit {e['code']}: "
                                                         f"{e['last'][:120]}"
                                                         for e in unexpected[:3])
                            if unexpected else "")))

    # memory
    start, end = run.memory.get("start"), run.memory.get("end")
    if start and end:
        rows_m = []
        grew = []
        w0, w1 = start["worker"], end["worker"]
        same_worker = w0[0] == w1[0]
        rows_m.append(("worker (tree)", w0, w1, same_worker))
        for pid, kib in start["web"].items():
            rows_m.append((f"web worker {pid}", (pid, kib), (pid, end["web"].get(pid, 0)),
                           pid in end["web"]))
        parts = []
        for label, a, b, same in rows_m:
            if not same:
                parts.append(f"{label}: {a[1] / 1024:.0f} MiB -> replaced (pid {b[0]}: "
                             f"{b[1] / 1024:.0f} MiB)")
                continue
            growth = (b[1] - a[1]) / a[1] * 100 if a[1] else 0
            if growth > 10:
                grew.append(label)
            parts.append(f"{label}: {a[1] / 1024:.0f} -> {b[1] / 1024:.0f} MiB ({growth:+.0f}%)")
        long_run = run.p.seconds >= 30 * 60
        checks.append(Check("memory growth <= 10% (PSS, warm-up -> end)",
                            (not grew) if long_run else None, "; ".join(parts), warn=bool(grew)))
    return checks


def page_table(web: Web) -> list[str]:
    by: dict[str, list[Sample]] = defaultdict(list)
    for s in web.samples:
        by[s.label].append(s)
    lines = [f"{'page':<34}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'5xx':>5}{'none':>5}"]
    for label in sorted(by):
        ms = [s.ms for s in by[label] if s.status]
        lines.append(f"{label:<34}{len(by[label]):>6}{pct(ms, 0.5):>9.0f}{pct(ms, 0.99):>9.0f}"
                     f"{max(ms, default=0):>9.0f}"
                     f"{sum(s.status >= 500 for s in by[label]):>5}"
                     f"{sum(s.status == 0 for s in by[label]):>5}")
    return lines


def report(db_kind: str, p: Profile, checks: list[Check], web_lines: list[str],
           rdir: Path, elapsed: float) -> str:
    lines = [f"== soak {db_kind}: {p.mode}, {p.seconds / 60:.1f} min of load "
             f"({elapsed / 60:.1f} min in all), gunicorn {p.web_workers} workers, "
             f"{p.clients} clients, {p.operators} operators, {p.import_lines:,}-line list; "
             f"run dir {rdir}", f"{'check':<46} {'':<5} figures"]
    for c in checks:
        lines.append(f"{c.name:<46} {c.verdict:<5} {c.figures}")
    lines.append("")
    lines += web_lines
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="8 minutes per database")
    mode.add_argument("--ci", action="store_true",
                      help="about 2 minutes per database, light load, each fault once")
    parser.add_argument("--minutes", type=float, help="minutes of load per database "
                        "(default 30; --quick 8; --ci 2)")
    parser.add_argument("--postgres-url", help="an admin URL of the PostgreSQL server "
                        "(default $BANGUI_TEST_POSTGRES_URL, .venv/.bangui-test-postgres-url)")
    parser.add_argument("--run-dir", help="where the logs go (default var/soak/<UTC time>)")
    args = parser.parse_args()
    # SIGTERM (a test's timeout, kill) unwinds like Ctrl-C: gunicorn, the
    # worker, fail2ban and the PostgreSQL database are stopped and dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    p = profile(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path(args.run_dir) if args.run_dir else ROOT / "var" / "soak" / f"{stamp}-{p.mode}"
    base.mkdir(parents=True, exist_ok=True)
    print(f"soak: run dir {base}", flush=True)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    reports, failed = [], False
    for db_kind in dbs:
        start = time.monotonic()
        try:
            checks, web_lines = run_one(db_kind, p, base, postgres_admin_url(args.postgres_url))
        except Exception:
            text = traceback.format_exc()
            (base / f"{db_kind}-bench-error.txt").write_text(text)
            checks = [Check("bench ran to the end", False, text.strip().splitlines()[-1])]
            web_lines = [text]
        text = report(db_kind, p, checks, web_lines, base / db_kind, time.monotonic() - start)
        (base / f"report-{db_kind}.txt").write_text(text + "\n")
        reports.append(text)
        failed |= any(c.ok is False for c in checks)
    print("\n" + "\n\n".join(reports), flush=True)
    verdict = "FAIL" if failed else "PASS"
    print(f"\nsoak: {verdict} (run dir {base})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
