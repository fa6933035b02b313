"""The one door to fail2ban: a client for its Unix-socket protocol.

One connection per operation (a Unix-socket connect costs microseconds and
survives fail2ban restarts without stale state); :meth:`Fail2banClient.session`
keeps one connection open for a few related commands. Every read is bounded
in size and time, connect errors are retried briefly (fail2ban recreates its
socket on restart), and a sent command is never re-sent.

Operations that fail2ban only offers through its own CLI (reload, which needs
the command stream built from the config files) live in :mod:`.cli`.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import Any

from . import validation
from .errors import CommandError, ProtocolError, Starting, Timeout, UnknownJail, Unreachable
from .protocol import CLOSE, END, RemoteException, decode, encode
from .results import BanEntry, JailSettings, JailStatus, Overview, ServerSettings, ServerStatus

DEFAULT_MAX_REPLY = 64 * 1024 * 1024
# fail2ban-server writes its pid file first thing when it starts (before it
# binds, or inherits from systemd, its socket) and removes it when it exits;
# Debian and upstream keep it beside the socket (/run/fail2ban/fail2ban.pid).
# A socket that accepts but does not answer is "starting" while that file is
# younger than this, else hung or busy (docs/deployment.md, "The socket").
PIDFILE_NAME = "fail2ban.pid"
STARTING_SECONDS = 60
# Addresses per banip / unbanip / unban command. fail2ban runs the jail's
# actions for each address inside the command (a shell or two each: 10 ms
# and more), so one command of 1,000 outlasted the 10 s deadline on a busy
# machine while fail2ban went on banning. Commands of at most this many, on
# one connection, each get their own deadline: it bounds a pause in
# fail2ban's progress, not the whole list.
BULK_BATCH = 100
_RETRYABLE_CONNECT = {errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN}
_WITH_TIME = re.compile(
    r"^(?P<ip>\S+)\s+(?P<start>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+ (?P<bantime>-?\d+) = "
    r"(?P<end>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)?"
)


def _server_time(text: str | None, server_tz: tzinfo | None) -> datetime | None:
    """fail2ban prints times in its own process's local zone, without saying
    which: read them in ``server_tz`` (None: ours, right when both share a
    host and its TZ)."""
    if not text:
        return None
    naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    local = naive.replace(tzinfo=server_tz) if server_tz is not None else naive.astimezone()
    return local.astimezone(UTC)  # plain UTC: cached and compared like the db's times


def parse_ban_with_time(line: str, server_tz: tzinfo | None = None) -> BanEntry:
    match = _WITH_TIME.match(line.strip())
    if not match:
        return BanEntry(ip=line.split()[0] if line.split() else line, banned_at=None,
                        bantime=None, ends_at=None)
    bantime = int(match["bantime"])
    return BanEntry(
        ip=match["ip"],
        banned_at=_server_time(match["start"], server_tz),
        bantime=bantime,
        ends_at=None if bantime < 0 else _server_time(match["end"], server_tz),
    )


class _Connection:
    def __init__(self, sock: socket.socket, client: Fail2banClient):
        self._sock = sock
        self._client = client

    def call(self, *command: str) -> Any:
        return self.call_many(command)[0]

    def call_many(self, *commands: Iterable[str]) -> list[Any]:
        """Several commands in one write, their answers read in order.
        fail2ban's server takes each command from the stream in turn and
        answers it, so n commands cost one round trip, not n: measured with
        the status bar's nine, 2.4 -> 0.9 ms and half fail2ban's CPU (#29).
        Every answer is read before the first refusal is raised."""
        cmds = [[str(c) for c in command] for command in commands]
        try:
            self._sock.sendall(b"".join(encode(cmd) for cmd in cmds))
            data = self._read(len(cmds))
        except TimeoutError:
            raise self._client.timed_out(cmds[0]) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise Unreachable(self._client.socket_path, f"connection lost ({exc})") from None
        parts = [data] if len(cmds) == 1 else data.split(END)
        if len(cmds) > 1 and (len(parts) != len(cmds) + 1 or parts[-1]):
            raise ProtocolError(f"fail2ban sent {len(parts) - 1} answers to {len(cmds)} "
                                "commands")
        answers, refusal = [], None
        for cmd, part in zip(cmds, parts, strict=False):
            code, payload = decode(part)
            if code != 0 and refusal is None:
                refusal = _command_error(cmd, payload)
            answers.append(payload)
        if refusal is not None:
            raise refusal
        return answers

    def _read(self, answers: int = 1) -> bytes:
        """``answers`` whole replies within one deadline: a per-``recv``
        timeout alone would let a reply that trickles a byte at a time wait
        forever."""
        limit = self._client.max_reply_bytes * answers
        deadline = time.monotonic() + self._client.timeout
        chunks = bytearray()
        while (chunks.rfind(END, -64) == -1 if answers == 1
               else chunks.count(END) < answers or not chunks.endswith(END)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise Unreachable(self._client.socket_path, "fail2ban closed the connection "
                                  "before answering")
            chunks += chunk
            if len(chunks) > limit:
                raise ProtocolError(
                    f"fail2ban's reply exceeded {limit:,} bytes; refused to read further"
                )
        return bytes(chunks)

    def close(self) -> None:
        try:
            self._sock.sendall(CLOSE + END)
        except OSError:
            pass
        finally:
            self._sock.close()


def _command_error(cmd: list[str], payload: Any) -> CommandError:
    if isinstance(payload, RemoteException):
        remote, message = payload.remote_class, payload.message()
    else:
        remote, message = type(payload).__name__, str(payload)
    if remote.endswith("UnknownJailException"):
        return UnknownJail(cmd, remote, message)
    if message == remote:
        message = f"{remote} (no detail given)"
    return CommandError(cmd, remote, message)


def _socket_identity(path: str) -> tuple[int, int, int] | None:
    """Which socket file sits at ``path`` (None: none). fail2ban binds a new
    one each time it starts, so a changed identity means it was restarted."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def started_seconds_ago(socket_path: str) -> float | None:
    """How long ago the fail2ban-server of ``socket_path`` started, by its
    pid file beside the socket, when that is less than STARTING_SECONDS
    (None: no pid file to read, or an older start)."""
    pidfile = os.path.join(os.path.dirname(socket_path), PIDFILE_NAME)
    try:
        age = max(0.0, time.time() - os.stat(pidfile).st_mtime)
    except OSError:
        return None
    return age if age < STARTING_SECONDS else None


class Budget:
    """One request's patience with fail2ban (a circuit per request, set by
    ``jails.middleware`` through ``jails.live.link``). The first call that
    times out or finds fail2ban unreachable (refused, no socket, connection
    dropped) is remembered; every later call with the same budget fails at
    once with that same error, so a page whose view, live columns and status
    bar all ask a hung or dead fail2ban waits one timeout (and retries one
    refused connect), not one per call.

    A failure is remembered with the identity of the socket file it met
    (:func:`_socket_identity`): a new socket file at that path means
    fail2ban started again since, and it is asked afresh (a config save's
    reload probe, in the same request, sees fail2ban come back).
    Answers fail2ban refused (``CommandError``) or garbled
    (``ProtocolError``) are not remembered: it answered."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[Timeout | Unreachable, tuple | None]] = {}

    def check(self, socket_path: str) -> None:
        """Raise the failure remembered for ``socket_path``, if any."""
        kept = self._failures.get(socket_path)
        if kept is None:
            return
        failure, identity = kept
        if _socket_identity(socket_path) != identity:
            del self._failures[socket_path]  # fail2ban restarted: ask again
            return
        raise failure.with_traceback(None)

    def record(self, socket_path: str, failure: Timeout | Unreachable) -> None:
        self._failures[socket_path] = (failure, _socket_identity(socket_path))


class Fail2banClient:
    """Talks to one fail2ban-server over its socket."""

    def __init__(
        self,
        socket_path: str,
        *,
        timeout: float = 10.0,
        connect_retries: int = 2,
        retry_delay: float = 0.05,
        max_reply_bytes: int = DEFAULT_MAX_REPLY,
        budget: Budget | None = None,
        server_tz: tzinfo | None = None,
    ):
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self.connect_retries = connect_retries
        self.retry_delay = retry_delay
        self.max_reply_bytes = max_reply_bytes
        self.budget = budget
        self.server_tz = server_tz  # the zone of the times fail2ban prints

    def __repr__(self) -> str:
        return f"Fail2banClient({self.socket_path!r})"

    # -- plumbing ------------------------------------------------------------------
    def timed_out(self, command: list[str]) -> Timeout:
        """The error for a connection fail2ban accepted and did not answer:
        :class:`Starting` right after a start, :class:`Timeout` otherwise.
        The socket alone cannot tell a server still starting from a hung
        one (both accept and stay silent); the pid file's age can."""
        started_ago = started_seconds_ago(self.socket_path)
        if started_ago is not None:
            return Starting(self.socket_path, self.timeout, command, started_ago)
        return Timeout(self.socket_path, self.timeout, command)

    def _connect(self) -> socket.socket:
        attempt = 0
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_path)
                return sock
            except TimeoutError:
                sock.close()
                raise Unreachable(self.socket_path, "connect timed out") from None
            except OSError as exc:
                sock.close()
                if exc.errno in _RETRYABLE_CONNECT and attempt < self.connect_retries:
                    attempt += 1
                    time.sleep(self.retry_delay * attempt)
                    continue
                reason = exc.strerror or str(exc)
                if exc.errno == errno.ENOENT:
                    reason = "no socket at that path"
                elif exc.errno == errno.ECONNREFUSED:
                    # Measured with fail2ban 1.1.1's socket activation: its
                    # stop shuts down the listening socket systemd holds, so
                    # it refuses every connection, even from the next server,
                    # until fail2ban.socket is restarted (docs/deployment.md).
                    reason = ("the socket exists but refuses connections (fail2ban stopped "
                              "without removing it, or, with fail2ban.socket, "
                              "fail2ban.service was restarted without the socket unit)")
                raise Unreachable(self.socket_path, reason) from None

    @contextmanager
    def session(self) -> Iterator[_Connection]:
        """One connection for several commands (the status bar reads N+1).
        With a :class:`Budget`, a failure it remembers is raised before
        connecting, and a new timeout or unreachable is remembered."""
        if self.budget is not None:
            self.budget.check(self.socket_path)
        try:
            conn = _Connection(self._connect(), self)
        except Unreachable as exc:
            self._remember(exc)
            raise
        try:
            yield conn
        except (Timeout, Unreachable) as exc:
            if exc.socket_path == self.socket_path:
                self._remember(exc)
            raise
        finally:
            conn.close()

    def _remember(self, failure: Timeout | Unreachable) -> None:
        if self.budget is not None:
            self.budget.record(self.socket_path, failure)

    def call(self, *command: str) -> Any:
        with self.session() as conn:
            return conn.call(*command)

    # -- server --------------------------------------------------------------------
    def ping(self) -> bool:
        return self.call("ping") == "pong"

    def ping_version(self) -> str:
        """``ping`` then ``version`` on one connection (/health/ready)."""
        with self.session() as conn:
            pong, version = conn.call_many(["ping"], ["version"])
        if pong != "pong":
            raise ProtocolError("fail2ban gave an unexpected answer to ping")
        return str(version)

    def version(self) -> str:
        return str(self.call("version"))

    def jail_names(self) -> list[str]:
        return _jail_list(self.call("status"))

    def server_status(self) -> ServerStatus:
        with self.session() as conn:
            version, status = conn.call_many(["version"], ["status"])
        return ServerStatus(version=str(version), jails=_jail_list(status))

    def overview(self) -> Overview:
        """Version plus every jail's counters, on one connection."""
        with self.session() as conn:
            version, status, dbfile, dbpurgeage = conn.call_many(
                ["version"], ["status"], ["get", "dbfile"], ["get", "dbpurgeage"])
            names = _jail_list(status)
            statuses = conn.call_many(*(["status", name, "short"] for name in names)) \
                if names else []
        return Overview(version=str(version),
                        jails=[_jail_status(n, s) for n, s in zip(names, statuses, strict=True)],
                        dbfile=_dbfile(dbfile), dbpurgeage=_int_or_none(dbpurgeage))

    def dbfile(self) -> str | None:
        """fail2ban's sqlite file, or None when it keeps no database
        (``dbfile = None`` / ``:memory:``)."""
        return _dbfile(self.call("get", "dbfile"))

    def jails_and_dbfile(self) -> tuple[list[str], str | None]:
        """:meth:`jail_names` and :meth:`dbfile` on one connection (the live
        state of a page's rows needs both)."""
        with self.session() as conn:
            status, dbfile = conn.call_many(["status"], ["get", "dbfile"])
        return _jail_list(status), _dbfile(dbfile)

    def server_settings(self) -> ServerSettings:
        with self.session() as conn:
            loglevel, logtarget, dbfile, dbpurgeage = conn.call_many(
                *(["get", what] for what in ("loglevel", "logtarget", "dbfile", "dbpurgeage")))
        return ServerSettings(loglevel=str(loglevel), logtarget=str(logtarget), dbfile=dbfile,
                              dbpurgeage=dbpurgeage)

    def set_loglevel(self, level: str) -> str:
        level = level.strip().upper()
        allowed = {"CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG", "TRACEDEBUG",
                   "HEAVYDEBUG"}
        if level not in allowed:
            raise validation.InvalidInput(f"{level!r} is not a fail2ban log level")
        return str(self.call("set", "loglevel", level))

    def set_dbpurgeage(self, seconds: int) -> int:
        if int(seconds) < 0:
            raise validation.InvalidInput("dbpurgeage must be zero or more seconds")
        return self.call("set", "dbpurgeage", str(int(seconds)))

    # -- jails -----------------------------------------------------------------------
    def jail_status(self, jail: str) -> JailStatus:
        jail = validation.jail_name(jail)
        return _jail_status(jail, self.call("status", jail))

    def banned_with_time(self, jail: str) -> list[BanEntry]:
        jail = validation.jail_name(jail)
        try:
            lines = self.call("get", jail, "banip", "--with-time")
        except UnknownJail:
            raise
        except CommandError:
            # Servers older than 0.10 lack --with-time: fall back to bare IPs.
            return [BanEntry(ip, None, None, None) for ip in self.call("get", jail, "banned")]
        return [parse_ban_with_time(line, self.server_tz) for line in lines]

    def jails_of_ip(self, ip: str) -> list[str]:
        """The jails that hold ``ip`` (or a network) itself: fail2ban does
        not count an address as banned by a banned range that holds it."""
        ip = validation.ban_target(ip)
        reply = self.call("banned", ip)
        return list(reply[0]) if reply else []

    def ban(self, jail: str, ips: Iterable[str], *, batch: int = BULK_BATCH) -> int:
        """Ban IPs (or networks: validation.ban_target) in one jail; returns
        how many were newly banned. ``batch``: addresses per command
        (BULK_BATCH; the blocklist import, a background task, sends bigger
        ones under its own longer deadline)."""
        jail = validation.jail_name(jail)
        return self._in_batches(["set", jail, "banip"], validation.ban_targets(ips), batch)

    def unban(self, jail: str, ips: Iterable[str]) -> int:
        jail = validation.jail_name(jail)
        return self._in_batches(["set", jail, "unbanip"], validation.ban_targets(ips))

    def unban_everywhere(self, ips: Iterable[str]) -> int:
        return self._in_batches(["unban"], validation.ban_targets(ips))

    def _in_batches(self, command: list[str], targets: list[str],
                    batch: int = BULK_BATCH) -> int:
        """``command`` + the targets, ``batch`` at a time on one connection
        (BULK_BATCH says why); the sum of fail2ban's counts."""
        done = 0
        with self.session() as conn:
            for start in range(0, len(targets), batch):
                done += int(conn.call(*command, *targets[start:start + batch]))
        return done

    def unban_all(self) -> int:
        return int(self.call("unban", "--all"))

    def stop_jail(self, jail: str) -> None:
        self.call("stop", validation.jail_name(jail))

    def set_idle(self, jail: str, idle: bool) -> bool:
        return bool(self.call("set", validation.jail_name(jail), "idle", "on" if idle else "off"))

    def jail_settings(self, jail: str, backend: str | None = None) -> JailSettings:
        """Settings of a running jail. fail2ban 1.0 has no ``get JAIL backend``:
        pass the backend read from the config (see :func:`.cli.jail_backends`)."""
        jail = validation.jail_name(jail)
        keys = ("bantime", "findtime", "maxretry", "logpath", "ignoreip", "ignoreself", "actions")
        with self.session() as conn:
            got = dict(zip(keys, conn.call_many(*(["get", jail, k] for k in keys)), strict=True))
        return JailSettings(
            name=jail,
            bantime=int(got["bantime"]),
            findtime=int(got["findtime"]),
            maxretry=int(got["maxretry"]),
            backend=backend,
            log_paths=list(got["logpath"]),
            ignore_ips=list(got["ignoreip"]),
            ignore_self=bool(got["ignoreself"]),
            actions=list(got["actions"]),
        )

    def jail_times(self, jails: Iterable[str]) -> dict[str, tuple[int, int, int]]:
        """(bantime, findtime, maxretry) of each jail, on one connection
        (/metrics' f2b_config_jail_* families)."""
        names, keys = list(jails), ("bantime", "findtime", "maxretry")
        if not names:
            return {}
        with self.session() as conn:
            got = conn.call_many(*(["get", name, key] for name in names for key in keys))
        return {name: tuple(int(v) for v in got[i * 3:i * 3 + 3]) for i, name in enumerate(names)}

    def bantime(self, jail: str) -> int:
        """The jail's ban time in seconds (-1: permanent)."""
        return int(self.call("get", validation.jail_name(jail), "bantime"))

    def banned(self, jail: str) -> list[str]:
        """The jail's banned IPs (``get JAIL banned``: ~0.2 s for 50,000)."""
        return list(self.call("get", validation.jail_name(jail), "banned") or ())

    def ignore_list(self, jail: str) -> list[str]:
        return [str(v) for v in self.call("get", validation.jail_name(jail), "ignoreip")]

    def add_ignore(self, jail: str, value: str) -> list[str]:
        return list(self.call("set", validation.jail_name(jail), "addignoreip",
                              validation.ignore_value(value)))

    def remove_ignore(self, jail: str, value: str) -> list[str]:
        return list(self.call("set", validation.jail_name(jail), "delignoreip",
                              validation.ignore_value(value)))

    def set_ignore_self(self, jail: str, on: bool) -> bool:
        return bool(self.call("set", validation.jail_name(jail), "ignoreself",
                              "true" if on else "false"))


def _pairs(payload: Any) -> dict[str, Any]:
    try:
        return {str(k): v for k, v in payload}
    except (TypeError, ValueError):
        raise ProtocolError(f"unexpected status reply shape: {payload!r:.200}") from None


def _dbfile(path: Any) -> str | None:
    if not path or str(path) in (":memory:", "None"):
        return None
    return str(path)


def _jail_list(payload: Any) -> list[str]:
    text = _pairs(payload).get("Jail list", "")
    return [name.strip() for name in str(text).split(",") if name.strip()]


def _jail_status(name: str, payload: Any) -> JailStatus:
    sections = _pairs(payload)
    filt = _pairs(sections.get("Filter", []))
    acts = _pairs(sections.get("Actions", []))
    return JailStatus(
        name=name,
        currently_failed=int(filt.get("Currently failed", 0)),
        total_failed=int(filt.get("Total failed", 0)),
        file_list=list(filt.get("File list", []) or []),
        currently_banned=int(acts.get("Currently banned", 0)),
        total_banned=int(acts.get("Total banned", 0)),
        banned_ips=list(acts.get("Banned IP list", []) or []),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
