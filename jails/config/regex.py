"""Run a filter against log lines with fail2ban's own matcher, ``fail2ban-regex``.

Two runs of the tool on the same input (each ~0.2 s): the statistics run with
``--print-all-matched/-missed/-ignored`` gives the lines sorted into matched,
ignored and missed plus the counts; the ``-o '<ip>\\x1f<msg>'`` run gives the
host fail2ban captured for each matched line. Both are bounded by a timeout
and the input by a size cap, and runs are bounded in number: each takes a
slot (an ``fcntl`` lock on a file under ``DATA_DIR``, so the limit holds
across every gunicorn worker and a crashed process frees its slot): at most
``REGEX_RUNS_PER_USER`` per user and ``REGEX_RUNS_TOTAL`` in all. A run that
finds no free slot is refused at once with "busy, try again" instead of
tying up a web worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from jails.config import files as config_files
from jails.config import jail as jail_config

MAX_INPUT_BYTES = 1024 * 1024
TIMEOUT = 20.0
SEP = "\x1f"
_FILTER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}")
_LINES = re.compile(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed")


# Where journald keeps the system journal (persistent, volatile).
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")
SYSTEM_JOURNAL = "*"  # the journal choice "the system journal" (no jail is named "*")
_JOURNAL_OPTION = re.compile(r"\b(?P<key>journalfiles|journalpath)\s*=\s*"
                             r"(?P<value>\"[^\"]*\"|'[^']*'|[^,\]]*)")

REGEX_RUNS_TOTAL = 2  # one per core: fail2ban-regex is CPU-bound
REGEX_RUNS_PER_USER = 1


class TesterError(ValueError):
    pass


class Busy(TesterError):
    """No free slot: too many runs at once (for this user, or in all)."""


def _try_lock(path: Path):
    fh = path.open("a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


@contextlib.contextmanager
def slot(user: str) -> Iterator[None]:
    """Hold one of the user's slots and one of the shared ones, or raise Busy."""
    folder = Path(settings.DATA_DIR) / "regex-slots"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(user.encode()).hexdigest()[:16]
    held = []
    try:
        mine = next(filter(None, (_try_lock(folder / f"user-{key}-{i}.lock")
                                  for i in range(REGEX_RUNS_PER_USER))), None)
        if mine is None:
            raise Busy("your previous regex test is still running; wait for it, then try "
                       "again")
        held.append(mine)
        shared = next(filter(None, (_try_lock(folder / f"run-{i}.lock")
                                    for i in range(REGEX_RUNS_TOTAL))), None)
        if shared is None:
            raise Busy(f"the regex tester is busy ({REGEX_RUNS_TOTAL} tests are running); "
                       "try again in a moment")
        held.append(shared)
        yield
    finally:
        for fh in held:
            fh.close()  # closing the file releases its lock


@dataclass
class Match:
    line: str
    hosts: list[str]


@dataclass
class Result:
    matched: list[Match] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    total: int = 0
    truncated: bool = False
    source: str = ""
    clipped: bool = False  # a node's answer keeps the first lines of each list

    @property
    def hosts(self) -> list[str]:
        seen: dict[str, None] = {}
        for m in self.matched:
            for h in m.hosts:
                seen.setdefault(h, None)
        return list(seen)


def filter_names() -> list[str]:
    """Filter names in filter.d (one directory scan; the names are only
    offered as choices, and a chosen name is checked again before use)."""
    names = set()
    try:
        with os.scandir(config_files.root() / "filter.d") as entries:
            for entry in entries:
                stem, dot, suffix = entry.name.rpartition(".")
                if dot and f".{suffix}" in config_files.SUFFIXES and \
                        _FILTER_NAME.fullmatch(stem) and entry.is_file():
                    names.add(stem)
    except OSError:
        return []
    return sorted(names)


def allowed_log(path: str) -> Path:
    """A log file inside ``settings.BANGUI_REGEX_LOG_DIRS`` (symlinks resolved)."""
    if not path or "\x00" in path:
        raise TesterError("no log file given")
    if not os.path.isabs(path):
        raise TesterError(f"{path!r}: give an absolute path")
    real = Path(os.path.realpath(path))
    dirs = [Path(os.path.realpath(d)) for d in settings.BANGUI_REGEX_LOG_DIRS]
    if not any(real.is_relative_to(d) for d in dirs):
        raise TesterError(f"{path} is outside the directories BanGUI may read logs from "
                          f"({', '.join(map(str, dirs))}; setting BANGUI_REGEX_LOG_DIRS)")
    if not real.is_file():
        raise TesterError(f"{path} is not a readable file")
    return real


def journal_choices() -> list[tuple[str, str]]:
    """What the tester may read from the journal: the system journal, or
    the journal as one of this host's journal-backed jails reads it (its
    backend options and its journalmatch, from the config)."""
    out = [(SYSTEM_JOURNAL, "the system journal (the filter's own journalmatch)")]
    out += [(j.name, f"as jail {j.name} reads it ({j.backend})")
            for j in jail_config.configured_jails().values() if j.journal]
    return out


def _journal_files(options: str) -> list[Path]:
    """The journal files fail2ban would open for ``systemd[options]``:
    ``journalfiles=``, the files in ``journalpath=``, else journald's own."""
    found = {m["key"]: m["value"].strip("\"'") for m in _JOURNAL_OPTION.finditer(options)}
    if "journalfiles" in found:
        return [Path(f) for f in re.split(r"[\s,]+", found["journalfiles"]) if f]
    dirs = [Path(found["journalpath"])] if "journalpath" in found else [
        Path(d) for d in JOURNAL_DIRS]
    files: list[Path] = []
    for d in dirs:
        with contextlib.suppress(OSError):
            files += [*d.glob("*.journal"), *d.glob("*/*.journal")]
    return files


def journal_problem(options: str = "") -> str | None:
    """Why this host has no journal to test against (None: it has one)."""
    files = [f for f in _journal_files(options) if f.is_file()]
    if not files:
        where = options or " or ".join(JOURNAL_DIRS)
        return (f"this host has no systemd journal to read (no journal files in {where}: "
                "journald is not running here, or keeps no journal); paste the log lines "
                "instead")
    if not any(os.access(f, os.R_OK) for f in files):
        return ("BanGUI's user may not read the systemd journal's files; add it to the "
                "systemd-journal group, or paste the log lines instead")
    return None


def _journal_source(choice: str) -> tuple[str, tuple[str, ...], str]:
    """(fail2ban-regex's LOG argument, journal matches, the source's name)."""
    if choice == SYSTEM_JOURNAL:
        options, matches, label = "", (), "the systemd journal"
    else:
        jail = jail_config.configured_jails().get(choice)
        if jail is None or not jail.journal:
            raise TesterError(f"no jail named {choice!r} reads the systemd journal here")
        options = jail.backend.split("[", 1)[1].rstrip().rstrip("]") if "[" in \
            jail.backend else ""
        matches, label = jail.journalmatch, f"the systemd journal as {jail.name} reads it"
    problem = journal_problem(options)
    if problem:
        raise TesterError(problem[0].upper() + problem[1:] + ".")
    log = f"systemd-journal[{options}]" if options else "systemd-journal"
    return log, matches, label


def _journal_error(exc: TesterError) -> TesterError:
    """fail2ban-regex's words for a journal it cannot read, made plain."""
    text = str(exc)
    if "systemd library not found" in text:
        return TesterError("fail2ban cannot read the systemd journal on this host: its Python "
                           "has no systemd module (Debian: apt-get install python3-systemd)")
    if "Opening the journal failed" in text or "exit 1)" in text:
        return TesterError(f"fail2ban-regex could not open the systemd journal: {text}")
    return exc


def _tail(path: Path) -> tuple[bytes, bool]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size <= MAX_INPUT_BYTES:
            return fh.read(), False
        fh.seek(size - MAX_INPUT_BYTES)
        data = fh.read()
    return data.split(b"\n", 1)[-1], True  # drop the partial first line


def _filter_file(failregex: str, ignoreregex: str, datepattern: str) -> str:
    def value(text: str) -> str:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        # fail2ban's config parser interpolates %(name)s: a literal % is %%.
        return "\n    ".join(ln.replace("%", "%%") for ln in lines)

    out = "[Definition]\nfailregex = " + value(failregex) + "\n"
    out += "ignoreregex = " + value(ignoreregex) + "\n"
    if datepattern.strip():
        out += "datepattern = " + value(datepattern) + "\n"
    return out


def _run(args: list[str]) -> str:
    binary = shutil.which(settings.BANGUI_FAIL2BAN_REGEX) or settings.BANGUI_FAIL2BAN_REGEX
    try:
        proc = subprocess.run([binary, *args], capture_output=True, text=True,
                              timeout=TIMEOUT, check=False, errors="replace")
    except subprocess.TimeoutExpired:
        raise TesterError(f"fail2ban-regex did not finish within {TIMEOUT:g} s; "
                          "test fewer lines or a simpler regex") from None
    except FileNotFoundError:
        raise TesterError("fail2ban-regex is not installed") from None
    if proc.returncode != 0:
        raise TesterError(_failure(proc))
    return proc.stdout


def _failure(proc: subprocess.CompletedProcess) -> str:
    """fail2ban-regex's own complaint: its ``ERROR``/``Error`` line on stdout and the
    reason on the line after it ("missing ), unterminated subpattern").
    fail2ban's log lines on stderr say the same again with a timestamp and a
    pid (the tester showed both), so they count only when stdout is silent."""
    out = [ln.strip() for ln in proc.stdout.splitlines()]
    for i, line in enumerate(out):
        if line.lower().startswith("error"):  # "ERROR: Unable to compile", "Error: systemd …"
            reason = out[i + 1] if i + 1 < len(out) else ""
            return f"{line.rstrip(':')}: {reason}" if reason else line
    logged = [ln.split("]: ", 1)[-1].strip() for ln in proc.stderr.splitlines() if "ERROR" in ln]
    return " ".join(logged[:2]) or f"fail2ban-regex failed (exit {proc.returncode})"


def _section(out: str, title: str) -> list[str]:
    lines = out.splitlines()
    header = f"|- {title} line(s):"
    try:
        start = lines.index(header)
    except ValueError:
        return []
    found = []
    for ln in lines[start + 1:]:
        if ln == "`-":
            break
        found.append(ln[3:] if ln.startswith("|  ") else ln)
    return found


def run(*, lines: str = "", log_path: str = "", filter_name: str = "", failregex: str = "",
        ignoreregex: str = "", datepattern: str = "", journal: str = "",
        user: str = "") -> Result:
    """Test the filter; ``user`` names whose slot the run takes (Busy when
    none is free). ``journal``: read the systemd journal instead of lines
    or a file (:data:`SYSTEM_JOURNAL`, or a journal-backed jail's name)."""
    with slot(user):
        return _test(lines=lines, log_path=log_path, filter_name=filter_name,
                     failregex=failregex, ignoreregex=ignoreregex, datepattern=datepattern,
                     journal=journal)


def _test(*, lines: str, log_path: str, filter_name: str, failregex: str, ignoreregex: str,
          datepattern: str, journal: str = "") -> Result:
    if sum(bool(x.strip()) for x in (lines, log_path, journal)) != 1:
        raise TesterError("paste log lines, name a log file or choose the journal (one of "
                          "them)")
    if bool(filter_name) == bool(failregex.strip()):
        raise TesterError("choose an existing filter or paste a failregex (one of the two)")
    work = Path(tempfile.mkdtemp(prefix="regex-", dir=config_files._workdir()))
    try:
        truncated = False
        matches: tuple[str, ...] = ()
        target = work / "input.log"  # the LOG argument: a copy of the lines, or the journal
        if journal.strip():
            target, matches, source = _journal_source(journal.strip())
        elif log_path.strip():
            data, truncated = _tail(allowed_log(log_path.strip()))
            target.write_bytes(data)
            source = log_path.strip()
        else:
            data = lines.replace("\r\n", "\n").encode()
            if not data.endswith(b"\n"):
                data += b"\n"  # fail2ban-regex drops a last line without one
            if len(data) > MAX_INPUT_BYTES:
                raise TesterError(f"paste at most {MAX_INPUT_BYTES // 1024} KB of log lines")
            target.write_bytes(data)
            source = "pasted lines"
        common: list[str] = ["--usedns=no", "-l", "error"]
        if matches:  # OR'ed entries, as fail2ban-regex's -m splits them (shlex)
            common += ["-m", " + ".join(matches)]
        if filter_name:
            if not _FILTER_NAME.fullmatch(filter_name) or filter_name not in filter_names():
                raise TesterError(f"no filter named {filter_name!r} in filter.d")
            common += ["-c", str(config_files.root())]
            if datepattern.strip():
                common += ["-d", datepattern.strip()]
            regex = filter_name
        else:
            regex_file = work / "bangui-test.conf"
            regex_file.write_text(_filter_file(failregex, ignoreregex, datepattern))
            regex = str(regex_file)
        try:
            stats = _run([*common, "--print-all-matched", "--print-all-missed",
                          "--print-all-ignored", str(target), regex])
            hosts_out = _run([*common, "-o", f"<ip>{SEP}<msg>", str(target), regex])
        except TesterError as exc:
            raise _journal_error(exc) if journal.strip() else exc from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hosts_by_line: dict[str, list[str]] = {}
    for row in hosts_out.splitlines():
        if SEP in row:
            ip, msg = row.split(SEP, 1)
            hosts = hosts_by_line.setdefault(msg.rstrip(), [])
            if ip not in hosts:
                hosts.append(ip)
    result = Result(truncated=truncated, source=source)
    result.matched = [Match(ln, hosts_by_line.get(ln.rstrip(), []))
                      for ln in _section(stats, "Matched")]
    result.ignored = _section(stats, "Ignored")
    result.missed = _section(stats, "Missed")
    m = next((_LINES.match(ln) for ln in stats.splitlines() if _LINES.match(ln)), None)
    result.total = int(m.group(1)) if m else len(result.matched) + len(result.missed) + len(
        result.ignored)
    return result
