"""A sandboxed fail2ban-server for tests, benchmarks and the demo.

Everything lives under one directory: config (copied filters and actions),
socket, pid file, sqlite db, fail2ban's own log and the jails' log files.
Jails use ``backend = polling`` and ``action = dummy``, so appending failed
login lines to a jail's log produces real bans without touching a firewall.

Which fail2ban: the system's (``fail2ban-client`` etc. on PATH, filters from
/etc/fail2ban), or, with ``BANGUI_TEST_FAIL2BAN=<version>``, a release that
``scripts/setup.sh --fail2ban-versions`` unpacked into
``.venv/fail2ban/<version>/`` (its programs in ``bin/``, its filters from its
``etc/fail2ban``). See :func:`fail2ban_under_test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .client import Fail2banClient
from .errors import Fail2banError

DISTRIBUTION_DIR = Path("/etc/fail2ban")
# Where scripts/setup.sh --fail2ban-versions unpacks other releases.
UNPACKED_DIR = Path(__file__).resolve().parents[2] / ".venv" / "fail2ban"
TOOLS = ("fail2ban-client", "fail2ban-server", "fail2ban-regex")


@dataclass(frozen=True)
class Fail2banInstall:
    """One fail2ban to run: its programs and its distribution config."""

    name: str  # "system", or the version unpacked under .venv/fail2ban/
    bindir: Path | None  # None: the programs on PATH
    confdir: Path  # filter.d, action.d, paths-*.conf are copied from here

    def tool(self, name: str) -> str:
        """The program to run for ``fail2ban-client``, ``-server`` or ``-regex``."""
        return name if self.bindir is None else str(self.bindir / name)

    @property
    def client(self) -> str:
        return self.tool("fail2ban-client")

    @property
    def regex(self) -> str:
        return self.tool("fail2ban-regex")


SYSTEM_FAIL2BAN = Fail2banInstall("system", None, DISTRIBUTION_DIR)


def fail2ban_under_test(name: str | None = None) -> Fail2banInstall:
    """The fail2ban the tests run: ``name``, else ``$BANGUI_TEST_FAIL2BAN``;
    empty or ``system``: the installed one, else a version unpacked by
    ``scripts/setup.sh --fail2ban-versions`` (a missing one is an error that
    says how to get it, never a silent fall-back to the system's)."""
    if name is None:
        name = os.environ.get("BANGUI_TEST_FAIL2BAN", "")
    name = name.strip()
    if name in ("", "system"):
        return SYSTEM_FAIL2BAN
    root = UNPACKED_DIR / name
    if "/" in name or not all((root / "bin" / tool).is_file() for tool in TOOLS):
        have = sorted(p.parent.name for p in UNPACKED_DIR.glob("*/bin"))
        raise RuntimeError(
            f"BANGUI_TEST_FAIL2BAN={name}: no fail2ban {name} in {UNPACKED_DIR} "
            f"(unpacked: {', '.join(have) or 'none'}); "
            "run scripts/setup.sh --fail2ban-versions")
    return Fail2banInstall(name, root / "bin", root / "etc" / "fail2ban")


@dataclass(frozen=True)
class SandboxJail:
    name: str
    filter: str
    log_name: str
    maxretry: int = 3
    findtime: int = 600
    bantime: int = 3600
    enabled: bool = True
    actions: bool = True


DEFAULT_JAILS = (
    SandboxJail("sshd", "sshd", "auth.log"),
    SandboxJail("nginx-http-auth", "nginx-http-auth", "nginx-error.log"),
    # Configured but not enabled: the jails pages list it as inactive.
    SandboxJail("postfix", "postfix", "mail.log", enabled=False),
)


def sshd_failure_line(ip: str, when: datetime | None = None, user: str = "root") -> str:
    when = when or datetime.now()
    return (
        f"{when:%b %d %H:%M:%S} bastion sshd[{os.getpid()}]: "
        f"Failed password for {user} from {ip} port 22 ssh2\n"
    )


def nginx_auth_failure_line(ip: str, when: datetime | None = None, user: str = "admin") -> str:
    when = when or datetime.now()
    return (
        f'{when:%Y/%m/%d %H:%M:%S} [error] 812#812: *1 user "{user}" was not found in '
        f'"/etc/nginx/.htpasswd", client: {ip}, server: example.org, '
        f'request: "GET /admin HTTP/1.1", host: "example.org"\n'
    )


FAILURE_LINES = {"sshd": sshd_failure_line, "nginx-http-auth": nginx_auth_failure_line}


@dataclass
class Sandbox:
    root: Path
    jails: tuple[SandboxJail, ...] = DEFAULT_JAILS
    dbpurgeage: int = 86400
    client_binary: str = ""  # "": the install's fail2ban-client
    extra_jail_conf: str = ""
    # Extra environment for the server (and its client), e.g. {"TZ": ...}
    # to run fail2ban in another time zone than the tests.
    env: dict[str, str] = field(default_factory=dict)
    # Which fail2ban runs it (BANGUI_TEST_FAIL2BAN unless given).
    install: Fail2banInstall = field(default_factory=fail2ban_under_test)
    _started: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.client_binary = self.client_binary or self.install.client

    @property
    def confdir(self) -> Path:
        return self.root / "etc"

    @property
    def rundir(self) -> Path:
        return self.root / "run"

    @property
    def socket(self) -> Path:
        return self.rundir / "fail2ban.sock"

    @property
    def pidfile(self) -> Path:
        return self.rundir / "fail2ban.pid"

    @property
    def dbfile(self) -> Path:
        return self.root / "lib" / "fail2ban.sqlite3"

    @property
    def logdir(self) -> Path:
        return self.root / "log"

    @property
    def server_log(self) -> Path:
        return self.logdir / "fail2ban.log"

    def log_path(self, jail: str) -> Path:
        for j in self.jails:
            if j.name == jail:
                return self.logdir / j.log_name
        raise KeyError(jail)

    # -- configuration -------------------------------------------------------
    def write_config(self) -> None:
        for d in (self.confdir, self.rundir, self.dbfile.parent, self.logdir):
            d.mkdir(parents=True, exist_ok=True)
        for sub in ("filter.d", "action.d"):
            if not (self.confdir / sub).exists():
                shutil.copytree(self.install.confdir / sub, self.confdir / sub)
        for name in ("paths-common.conf", "paths-debian.conf"):
            shutil.copy(self.install.confdir / name, self.confdir / name)
        (self.confdir / "jail.d").mkdir(exist_ok=True)
        (self.confdir / "fail2ban.d").mkdir(exist_ok=True)
        (self.confdir / "fail2ban.conf").write_text(
            "[Definition]\n"
            "loglevel = INFO\n"
            f"logtarget = {self.server_log}\n"
            f"socket = {self.socket}\n"
            f"pidfile = {self.pidfile}\n"
            f"dbfile = {self.dbfile}\n"
            f"dbpurgeage = {self.dbpurgeage}\n"
        )
        sections = [
            "[INCLUDES]\nbefore = paths-debian.conf\n",
            "[DEFAULT]\nbackend = polling\nbanaction = dummy\naction = dummy\n"
            "ignoreself = false\nignoreip = 127.0.0.1/8 ::1\n",
        ]
        for jail in self.jails:
            log = self.logdir / jail.log_name
            log.touch()
            sections.append(
                f"[{jail.name}]\n"
                f"enabled = {'true' if jail.enabled else 'false'}\n"
                f"filter = {jail.filter}\n"
                f"logpath = {log}\n"
                f"maxretry = {jail.maxretry}\n"
                f"findtime = {jail.findtime}\n"
                f"bantime = {jail.bantime}\n"
                + ("" if jail.actions else "action =\n")
            )
        if self.extra_jail_conf:
            sections.append(self.extra_jail_conf)
        (self.confdir / "jail.conf").write_text("\n".join(sections))

    # -- lifecycle -------------------------------------------------------------
    def _client(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.client_binary, "-c", str(self.confdir), "-s", str(self.socket),
             "-p", str(self.pidfile), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, **self.env} if self.env else None,
        )

    def version(self) -> str:
        """The running fail2ban's version, as its server reports it (tests
        compare against this, not a hard-coded release)."""
        return self.fail2ban_client("version").strip()

    def fail2ban_client(self, *args: str) -> str:
        """Run ``fail2ban-client`` against this server, as an admin would by
        hand (a ban or an unban BanGUI did not make); its output."""
        result = self._client(*args)
        if result.returncode != 0:
            raise RuntimeError(f"fail2ban-client {' '.join(args)} failed: "
                               f"{result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def start(self, timeout: float = 30) -> None:
        if not self.confdir.exists():
            self.write_config()
        result = self._client("-x", "start", timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"fail2ban sandbox did not start (exit {result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n"
                f"server log: {self._log_tail()}"
            )
        self.wait_until_ready(timeout)
        self._started = True

    def wait_until_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._client("ping", timeout=10).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"fail2ban sandbox socket never answered: {self._log_tail()}")

    def stop(self) -> None:
        if self.socket.exists():
            self._client("stop", timeout=30)
        deadline = time.monotonic() + 15
        while self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._started = False

    def is_running(self) -> bool:
        return self.socket.exists() and self._client("ping", timeout=10).returncode == 0

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.server_log.read_text().splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- traffic -----------------------------------------------------------------
    def clear_logs(self) -> None:
        """Empty every jail's log file, and have a running server read each
        from its start again.

        Truncating alone is not enough: fail2ban's polling backend notices a
        truncation only while the file is shorter than its read offset, so
        lines written before its next look (as long as the old ones or
        longer) would be read from the old offset, or not at all. Taking the
        path off the jail and adding it back gives the jail a fresh reader at
        offset 0 (two socket commands; empty logs are left alone)."""
        client = Fail2banClient(str(self.socket), connect_retries=0)
        try:
            running = set(client.jail_names())
        except Fail2banError:
            running = set()  # not running: a start reads the empty files
        for jail in self.jails:
            log = self.logdir / jail.log_name
            if not log.exists() or not log.stat().st_size:
                continue
            if jail.name not in running:
                log.write_bytes(b"")
                continue
            client.call("set", jail.name, "dellogpath", str(log))
            try:
                log.write_bytes(b"")
            finally:
                client.call("set", jail.name, "addlogpath", str(log), "head")

    def write_failures(self, jail: str, ip: str, count: int = 1) -> None:
        line = FAILURE_LINES[jail]
        with self.log_path(jail).open("a") as fh:
            for _ in range(count):
                fh.write(line(ip))
