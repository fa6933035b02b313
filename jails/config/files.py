"""fail2ban's config files, and the one transaction every editor uses.

A save is: check the paths and the versions edited, validate the new text
(syntax the way fail2ban parses it, regexes compiled by fail2ban itself, and
``fail2ban-client -t`` on a staged copy of the whole config dir), back up,
write atomically, reload, probe, and roll back automatically when fail2ban
does not come back with the jails the new config enables.

Only ``.local`` files are ever written (overrides of a distribution ``.conf``,
or files BanGUI creates, which are ``.local`` too: fail2ban reads a filter or
jail from ``name.local`` alone). Backups live under ``settings.DATA_DIR``,
outside the fail2ban dir, because fail2ban globs ``jail.d/*.local``.
"""

from __future__ import annotations

import configparser
import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from jails.config import history
from jails.fail2ban import Fail2banCli, Fail2banError
from jails.live import link
from jails.models import ConfigVersion

MAX_BYTES = 512 * 1024
# Top level plus the directories fail2ban reads; nothing deeper.
DIRECTORIES = ("", "jail.d", "filter.d", "action.d", "fail2ban.d")
SUFFIXES = (".conf", ".local")
ABSENT = "absent"  # the version hash of a file that does not exist yet
LOCK_TIMEOUT = 60.0
MAX_NAME_BYTES = 255  # NAME_MAX: a longer name is an OSError, not a file


class ConfigError(Exception):
    """A change refused before anything was written; ``str()`` says why."""


class PathRefused(ConfigError):
    pass


class StaleEdit(ConfigError):
    """Someone saved the file after the editor loaded it."""

    def __init__(self, rel: str, current: str | None, attempted: str):
        self.rel = rel
        self.current = current or ""
        self.attempted = attempted
        self.current_hash = content_hash(current)
        super().__init__(
            f"{rel} was changed by someone else after you opened it. Nothing was saved; "
            "your text is still in the editor. Compare with the current version below, "
            "merge, and save again."
        )

    @property
    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.current.splitlines(keepends=True), self.attempted.splitlines(keepends=True),
            fromfile=f"{self.rel} (saved now)", tofile=f"{self.rel} (your edit)"))


class ValidationFailed(ConfigError):
    pass


# -- paths ------------------------------------------------------------------------
def root() -> Path:
    return Path(settings.FAIL2BAN_CONFIG_DIR).resolve()


def resolve(rel: str) -> Path:
    """The absolute path of ``rel`` inside the config dir, or PathRefused.

    Refuses NUL bytes, absolute paths, ``..``, anything deeper than one of
    :data:`DIRECTORIES`, names that are not ``*.conf``/``*.local``, and
    symlinks whose target leaves the config dir.
    """
    if not isinstance(rel, str) or not rel.strip():
        raise PathRefused("no file name given")
    if "\x00" in rel:
        raise PathRefused("the file name contains a NUL byte")
    if rel.startswith(("/", "\\")) or os.path.isabs(rel) or "\\" in rel:
        raise PathRefused(f"{rel!r}: give a path relative to the fail2ban config dir")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PathRefused(f"{rel!r}: '..', '.' and empty path parts are not allowed")
    directory, name = "/".join(parts[:-1]), parts[-1]
    if directory not in DIRECTORIES:
        raise PathRefused(f"{rel!r}: only the config dir itself and "
                          f"{', '.join(d for d in DIRECTORIES if d)} may be browsed")
    if not name.endswith(SUFFIXES) or name.startswith(".") or name in SUFFIXES:
        raise PathRefused(f"{rel!r}: only .conf and .local files")
    if len(name.encode("utf-8", errors="replace")) > MAX_NAME_BYTES:
        raise PathRefused(f"{rel[:60]!r}…: the file name is longer than {MAX_NAME_BYTES} bytes")
    base = root()
    try:
        path = (base / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a link loop, a name the system refuses
        raise PathRefused(f"{rel!r} cannot be opened: {exc}") from None
    if not path.is_relative_to(base) or path.parent != (base / directory).resolve():
        raise PathRefused(f"{rel!r} leads outside the fail2ban config dir")
    return path


def link_target(rel: str) -> str | None:
    """Where ``rel`` points, relative to the config dir, when it is a
    symbolic link (None otherwise). Call after :func:`resolve`."""
    link = root() / rel
    if not link.is_symlink():
        return None
    return str(link.resolve().relative_to(root()))


def resolve_for_write(rel: str) -> Path:
    """The one rule for writes: only a ``.local`` that is a regular file or
    does not exist yet, and **never through a symbolic link** -- a write
    through ``b.local -> a.local`` would change ``a.local`` (and one through
    ``x.local -> jail.conf`` a distribution file) while the check looked at
    the name asked for. Reading through links inside the config dir stays
    allowed; the editor names the target to edit instead."""
    path = resolve(rel)
    if not writable(rel):
        raise PathRefused(f"{rel} is a distribution file and is never written; "
                          f"put your change in {rel[:-5]}.local")
    target = link_target(rel)
    if target is not None:
        raise PathRefused(f"{rel} is a symbolic link to {target}; BanGUI never writes "
                          f"through a link. Edit {target} instead"
                          + ("" if writable(target) else " (a distribution file: override it "
                             f"in {target[:-5]}.local)") + ", or replace the link on the host")
    if path.exists() and not path.is_file():
        raise PathRefused(f"{rel} is not a regular file; BanGUI writes regular files only")
    return path


def writable(rel: str) -> bool:
    return rel.endswith(".local")


def content_hash(text: str | bytes | None) -> str:
    if text is None:
        return ABSENT
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ConfigFile:
    rel: str
    text: str | None  # None: does not exist yet
    link: str | None = None  # the target, when ``rel`` is a symbolic link

    @property
    def exists(self) -> bool:
        return self.text is not None

    @property
    def version(self) -> str:
        return content_hash(self.text)

    @property
    def writable(self) -> bool:
        return writable(self.rel) and self.link is None

    @property
    def override(self) -> str | None:
        """The ``.local`` that overrides this ``.conf``."""
        return self.rel[:-5] + ".local" if self.rel.endswith(".conf") else None


def read(rel: str) -> ConfigFile:
    """Only regular files are read: a FIFO would block the read forever, a
    device would never end. Opened non-blocking, checked with ``fstat``
    (no race between the check and the open)."""
    path = resolve(rel)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return ConfigFile(rel, None)
    except OSError as exc:
        raise PathRefused(f"{rel!r} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PathRefused(f"{rel!r} is not a regular file; only regular files are shown")
        if info.st_size > MAX_BYTES:
            raise PathRefused(f"{rel} is larger than {MAX_BYTES // 1024} KB; edit it on the host")
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise PathRefused(f"{rel} is larger than {MAX_BYTES // 1024} KB; edit it on the host")
    return ConfigFile(rel, data.decode("utf-8", errors="replace"), link_target(rel))


def listing() -> dict[str, list[str]]:
    """Files per directory, sorted; only what :func:`resolve` accepts."""
    base = root()
    out: dict[str, list[str]] = {}
    for directory in DIRECTORIES:
        folder = base / directory if directory else base
        names = []
        with contextlib.suppress(OSError):
            for entry in sorted(os.listdir(folder)):
                rel = f"{directory}/{entry}" if directory else entry
                try:
                    if resolve(rel).is_file():
                        names.append(rel)
                except (PathRefused, OSError):
                    continue
        out[directory or "."] = names
    return out


@dataclass(frozen=True)
class ListedFile:
    rel: str
    used_by: tuple[str, ...] = ()  # jails whose filter this is

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    @property
    def is_local(self) -> bool:
        return self.rel.endswith(".local")


def overview(query: str = "", filters_in_use: dict[str, list[str]] | None = None
             ) -> dict[str, list[ListedFile]]:
    """:func:`listing` as the config page shows it: your own ``.local``
    files first, then the distribution's, each group by name; only names
    containing ``query``; filter files marked with the jails that use them."""
    query = query.strip().lower()[:64]
    used = filters_in_use or {}
    out: dict[str, list[ListedFile]] = {}
    for directory, names in listing().items():
        rows = []
        for rel in names:
            if query and query not in rel.lower():
                continue
            stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            jails = tuple(used.get(stem, ())) if rel.startswith("filter.d/") else ()
            rows.append(ListedFile(rel, jails))
        rows.sort(key=lambda f: (not f.is_local, f.name))
        out[directory] = rows
    return out


# -- validation -----------------------------------------------------------------------
def check_syntax(rel: str, text: str) -> None:
    """Parse like fail2ban does (``;`` inline comments, strict sections and
    options within one file); interpolation is left to ``fail2ban-client -t``."""
    if "\x00" in text:
        raise ValidationFailed(f"{rel}: the text contains a NUL byte")
    if len(text.encode()) > MAX_BYTES:
        raise ValidationFailed(f"{rel}: the text is larger than {MAX_BYTES // 1024} KB")
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",), strict=True)
    try:
        parser.read_string(text, source=rel)
    except configparser.Error as exc:
        raise ValidationFailed(f"{rel}: {exc.message if hasattr(exc, 'message') else exc}") \
            from None


def _fail2ban_regex(confdir: Path, filter_name: str) -> tuple[bool, str]:
    """Let fail2ban compile a filter's regexes (``-t`` does not: a broken
    failregex passes the config test and only fails in the server)."""
    try:
        result = subprocess.run(
            [settings.BANGUI_FAIL2BAN_REGEX, "-c", str(confdir), "/dev/null", filter_name],
            capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"fail2ban-regex did not run: {exc}"
    if result.returncode == 0:
        return True, ""
    lines = [ln for ln in (result.stdout + result.stderr).splitlines()
             if ln.startswith("ERROR") or "rror" in ln]
    return False, " ".join(lines[:2]) or f"fail2ban-regex exit code {result.returncode}"


def save(rel: str, text: str, expected: str, *, actor: str | None = None,
         reason: str | None = None, kind: str | None = None) -> Outcome:
    """The file editor's save: one file through :func:`apply`; ``expected``
    is the version the editor showed (a newer file raises StaleEdit).
    ``kind``: how the history names it ("restored" for a restore)."""
    return apply([Change(rel, text, expected)], actor=actor, reason=reason, kind=kind)


@dataclass
class Change:
    rel: str
    text: str | None  # None deletes the file
    expected: str  # version hash the editor saw (ABSENT for a new file)


@dataclass
class Outcome:
    ok: bool
    message: str
    changed: list[str] = field(default_factory=list)
    rolled_back: bool = False
    restored: list[str] = field(default_factory=list)
    backup: str = ""
    jails: list[str] = field(default_factory=list)


@contextlib.contextmanager
def locked(timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """One config transaction at a time, across every web and task process."""
    path = Path(settings.DATA_DIR) / "config.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigError("another config change is still running; "
                                      "try again in a moment") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stage(changes: list[Change]) -> tuple[Path, Path]:
    tmp = Path(tempfile.mkdtemp(prefix="stage-", dir=_workdir()))
    staged = tmp / "etc"
    shutil.copytree(root(), staged, symlinks=True)
    for change in changes:
        target = staged / change.rel
        # The copy keeps symlinks (fail2ban reads the config as it is); a
        # staged change replaces the link itself, never what it points to.
        target.unlink(missing_ok=True)
        if change.text is not None:
            target.write_text(change.text)
    return tmp, staged


def _workdir() -> Path:
    path = Path(settings.DATA_DIR) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def validate(changes: list[Change]) -> list[str]:
    """Everything short of running it: returns the jails the new config
    enables, or raises ValidationFailed. Nothing in the config dir changes."""
    for change in changes:
        if change.text is not None:
            check_syntax(change.rel, change.text)
    tmp, staged = _stage(changes)
    try:
        for change in changes:
            if change.text is not None and change.rel.startswith("filter.d/"):
                name = change.rel.split("/", 1)[1].rsplit(".", 1)[0]
                ok, reason = _fail2ban_regex(staged, name)
                if not ok:
                    raise ValidationFailed(f"{change.rel}: fail2ban cannot use this filter: "
                                           f"{reason}")
        real = link.cli()
        staged_cli = Fail2banCli(str(staged), real.socket_path, binary=real.binary)
        try:
            ok, reason = staged_cli.test()
        except Fail2banError as exc:
            ok, reason = False, f"fail2ban-client did not run: {exc}"
        if not ok:
            raise ValidationFailed(f"fail2ban's config test failed: {reason}")
        try:
            return sorted(staged_cli.jail_backends())
        except Fail2banError as exc:
            raise ValidationFailed(f"fail2ban could not read the config: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _backup(changes: list[Change], old: dict[str, bytes | None]) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(settings.DATA_DIR) / "config-backups" / f"{stamp}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    manifest = {}
    for change in changes:
        data = old[change.rel]
        manifest[change.rel] = data is not None
        if data is not None:
            target = folder / change.rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def _restore(old: dict[str, bytes | None]) -> list[str]:
    restored = []
    for rel, data in old.items():
        path = resolve(rel)
        if data is None:
            path.unlink(missing_ok=True)
            restored.append(f"{rel} (removed again)")
        else:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            restored.append(rel)
    return restored


def probe(expected: list[str], attempts: int = 3, interval: float = 0.25) -> str | None:
    """None when fail2ban answers and runs exactly the expected jails on
    every attempt; otherwise what was wrong."""
    client = link.client(connect_retries=3)
    for attempt in range(attempts):
        if attempt:
            time.sleep(interval)
        try:
            running = sorted(client.jail_names())
        except Fail2banError as exc:
            return str(exc)
        if running != sorted(expected):
            missing = sorted(set(expected) - set(running))
            extra = sorted(set(running) - set(expected))
            parts = []
            if missing:
                parts.append(f"not running: {', '.join(missing)}")
            if extra:
                parts.append(f"unexpectedly running: {', '.join(extra)}")
            return "fail2ban came back without the expected jails (" + "; ".join(parts) + ")"
    return None


def _record(changes: list[Change], old: dict[str, bytes | None], kind: str | None,
            **fields) -> None:
    """One history version per changed file (jails/config/history.py):
    ``kind`` None names it by what it did (created or saved)."""
    for change in changes:
        named = kind or (ConfigVersion.CREATED if old.get(change.rel) is None
                         else ConfigVersion.SAVED)
        history.record(change.rel, change.text, named, **fields)


def apply(changes: list[Change], *, probe_attempts: int = 3, actor: str | None = None,
          reason: str | None = None, kind: str | None = None) -> Outcome:
    """The config transaction. Raises ConfigError (nothing written) for
    refused changes; returns an Outcome for everything that was written,
    including a rolled-back one.

    Every change checked is kept in the config history, on this process's
    node (docs/config.md, "Config history"): the content it replaces when
    the history does not have it yet ("as BanGUI found it", "changed
    outside BanGUI"), then the new content with the check's verdict --
    saved, refused by the check, or written and rolled back. ``actor`` and
    ``reason`` default to those set with ``history.acting``; ``kind``
    ("restored") to "created" or "saved"."""
    who = {"actor": actor, "reason": reason}
    if not changes:
        raise ConfigError("nothing to change")
    for change in changes:
        resolve_for_write(change.rel)
        if change.text is not None and len(change.text.encode()) > MAX_BYTES:
            raise ValidationFailed(f"{change.rel}: the text is larger than "
                                   f"{MAX_BYTES // 1024} KB; nothing was saved")
    with locked():
        old: dict[str, bytes | None] = {}
        for change in changes:
            path = resolve_for_write(change.rel)
            try:
                old[change.rel] = path.read_bytes()
            except FileNotFoundError:
                old[change.rel] = None
            if content_hash(old[change.rel]) != change.expected:
                current = old[change.rel]
                raise StaleEdit(change.rel, None if current is None else current.decode(
                    "utf-8", errors="replace"), change.text or "")
        changes = [c for c in changes
                   if content_hash(c.text) != content_hash(old[c.rel])]
        if not changes:
            return Outcome(True, "No change: the file already says that.")
        client = link.client()
        try:
            before = sorted(client.jail_names())
        except Fail2banError as exc:
            raise ConfigError(f"{exc} Nothing was written: BanGUI only changes the config "
                              "while it can check that fail2ban survives the change.") from None
        for change in changes:
            history.note_before(change.rel, old[change.rel])
        try:
            expected = validate(changes)
            if not expected:
                raise ValidationFailed("the new config enables no jail at all; fail2ban "
                                       "would drop every running jail, so nothing was written")
        except ValidationFailed as exc:
            _record(changes, old, ConfigVersion.REFUSED, applied=False,
                    verdict=ConfigVersion.FAILED, message=str(exc), **who)
            raise
        backup = _backup(changes, {c.rel: old[c.rel] for c in changes})
        old = {c.rel: old[c.rel] for c in changes}
        for change in changes:
            path = resolve_for_write(change.rel)  # again, under the lock
            if change.text is None:
                path.unlink(missing_ok=True)
            else:
                _write_atomic(path, change.text)
        changed = [c.rel for c in changes]
        cli = link.cli()
        try:
            cli.reload()
            problem = probe(expected, attempts=probe_attempts)
        except Fail2banError as exc:
            problem = f"the reload failed: {exc}"
        if problem is None:
            jails = f"{len(expected)} jail{'' if len(expected) == 1 else 's'}"
            outcome = Outcome(True, f"Saved {', '.join(changed)}; fail2ban reloaded and runs "
                              f"{jails}.", changed=changed, backup=str(backup), jails=expected)
            _record(changes, old, kind, verdict=ConfigVersion.PASSED, message=outcome.message,
                    **who)
            return outcome
        restored = _restore(old)
        try:
            cli.reload()
            after = probe(before, attempts=probe_attempts)
        except Fail2banError as exc:
            after = str(exc)
        state = ("fail2ban is running again with its previous jails "
                 f"({', '.join(before) or 'none'})" if after is None else
                 f"fail2ban is still not healthy after the rollback: {after}. Check its log")
        outcome = Outcome(
            False,
            f"Your change was written, but {problem}. BanGUI rolled it back: restored "
            f"{', '.join(restored)} from the backup in {backup}; {state}.",
            changed=changed, rolled_back=True, restored=restored, backup=str(backup),
            jails=before)
        _record(changes, old, ConfigVersion.ROLLED_BACK, applied=False,
                verdict=ConfigVersion.FAILED, message=outcome.message, **who)
        return outcome
