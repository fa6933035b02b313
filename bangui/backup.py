"""Backing up and restoring BanGUI's SQLite database: the logic behind
``manage.py backup`` and ``manage.py restore`` (docs/operations.md), which
only parse their arguments, call :func:`backup` or :func:`restore` and
print. Refusals are :class:`BackupError`, with words for the operator.

Backup. SQLite's backup API (``sqlite3.Connection.backup``, all pages in one step)
copies the live database inside one read transaction. In WAL mode readers
never block writers, so the web and the worker go on reading and writing
meanwhile, and the copy is the database as of one moment: never half a
write, never without what still sits in the ``-wal`` file (copying the
``.sqlite3`` file alone misses it). The copy is written beside PATH, turned
into one self-contained file (rollback journal, no ``-wal``/``-shm``),
checked with ``PRAGMA integrity_check``, made readable by its owner only (it
holds password hashes and sessions) and only then renamed to PATH.

PATH defaults to ``$BANGUI_DATA_DIR/backups/bangui-<UTC time>.sqlite3``; a
directory gets that file name inside it. An existing file is never
overwritten. On PostgreSQL the command refuses and prints the ``pg_dump`` and
``pg_restore`` commands for the configured database (never its password).
Restore with ``manage.py restore PATH``; docs/operations.md.

Restore. Checks first, changes nothing when one fails: PATH is a SQLite file that
passes ``PRAGMA integrity_check``, has ``django_migrations`` and BanGUI's
apps in it, and none of its migrations is newer than this code knows (a
backup from a newer BanGUI is refused: this code cannot know what those
migrations did). Then, after ``--yes`` or a typed "yes":

1. the current database is saved with ``manage.py backup`` into
   ``$BANGUI_DATA_DIR/backups/bangui-before-restore-<UTC time>.sqlite3``;
2. PATH is copied with SQLite's backup API into a temp file beside the
   database (so a short read or a full disk fails here, before the live
   database is touched);
3. the temp copy replaces the database's content atomically: with no
   database yet, an ``os.replace`` of the temp file; over an existing one,
   SQLite's backup API into it, which is one write transaction. A plain
   ``os.replace`` over a WAL database that another process has open would
   pair the new file with the old ``-wal``/``-shm`` files (the web and the
   worker keep them open and write to them): a corrupt database. In one
   transaction, every other connection sees the old content or the new,
   never a mix, and reloads its schema.

Afterwards the web and the worker must be restarted: they hold caches built
from the old data (and the worker's lease row came back from the backup).
PostgreSQL: refused, with the ``pg_restore`` command.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db.migrations.loader import MigrationLoader


class BackupError(Exception):
    """Refused or failed; the message says why and what was (not) changed."""


def sqlite_database() -> Path | None:
    """The live SQLite file, or None when the database is not SQLite."""
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("sqlite3"):
        return None
    return Path(db["NAME"]).resolve()


def utc_stamp() -> str:
    """UTC to the microsecond: two backups (or a restore's safety copy
    right after a backup) in one second get different names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def default_backup_dir() -> Path:
    return Path(settings.DATA_DIR) / "backups"


def postgres_hint(action: str) -> str:
    """Why ``action`` (backup/restore) refuses, and the pg_dump/pg_restore
    commands for the configured database: host, port, user and name, never
    the password."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return (f"manage.py {action} handles SQLite only; this database is {db['ENGINE']}: "
                "use that database's own backup tools.")
    conn = [f"--{flag}={shlex.quote(str(db[key]))}"
            for flag, key in (("host", "HOST"), ("port", "PORT"), ("username", "USER"))
            if db.get(key)]
    name = shlex.quote(str(db.get("NAME") or ""))
    target = f"{db.get('NAME')}" + (f" on {db['HOST']}" if db.get("HOST") else "")
    dump = " ".join(["pg_dump", "--format=custom", *conn, f"--dbname={name}",
                     '--file="bangui-$(date -u +%Y%m%dT%H%M%SZ).dump"'])
    restore = " ".join(["pg_restore", "--clean", "--if-exists", "--no-owner", *conn,
                        f"--dbname={name}", "FILE.dump"])
    return (
        f"manage.py {action} handles SQLite only; BanGUI's database is PostgreSQL "
        f"({target}). Use PostgreSQL's own tools:\n\n"
        f"  back up (online, a consistent snapshot while BanGUI runs):\n    {dump}\n\n"
        f"  restore (stop the web and the worker first, start them afterwards):\n"
        f"    {restore}\n\n"
        "Give the password through ~/.pgpass or PGPASSWORD, not on the command line."
    )


def integrity(conn: sqlite3.Connection) -> str:
    """"ok", or the first problems PRAGMA integrity_check found."""
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
    return "ok" if rows == ["ok"] else "; ".join(rows)


def _temp_beside(path: Path, suffix: str) -> Path:
    """An empty hidden file in ``path``'s directory (same filesystem: a
    rename onto ``path`` is atomic)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    return Path(name)


def _copy_into(source: sqlite3.Connection, path: Path, *, check: bool) -> str:
    """Copy ``source`` into the empty file ``path`` in one backup step (one
    snapshot), as a single file (no -wal/-shm); with ``check``, returns the
    copy's integrity check ("ok" when sound)."""
    copy = sqlite3.connect(path)
    try:
        source.backup(copy)  # pages=-1: everything in one step, one snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal/-shm
        return integrity(copy) if check else "ok"
    finally:
        copy.close()


def copy_database(source: sqlite3.Connection, dest: Path) -> int:
    """Copy ``source`` into a new file at ``dest`` (which must not exist):
    one backup step, written to a temp file beside ``dest``, checked, mode
    0600, then renamed. Returns its size. Raises BackupError (nothing left
    behind) when anything fails."""
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = _temp_beside(dest, ".tmp")
    try:
        problems = _copy_into(source, tmp, check=True)
        if problems != "ok":
            raise BackupError(f"the copy failed its integrity check ({problems}); "
                               "nothing was written")
        os.chmod(tmp, 0o600)
        if dest.exists():  # created meanwhile: never overwrite a backup
            raise BackupError(f"{dest} exists; nothing was written")
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        raise BackupError(f"the backup failed: {exc}; nothing was written") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest.stat().st_size


def backup_sqlite(live: Path, dest: Path) -> int:
    if not live.is_file():
        raise BackupError(f"there is no database at {live} (run manage.py migrate first)")
    source = sqlite3.connect(live, timeout=30)
    try:
        return copy_database(source, dest)
    finally:
        source.close()


def resolve_dest(path: str | None) -> Path:
    name = f"bangui-{utc_stamp()}.sqlite3"
    if not path:
        return default_backup_dir() / name
    dest = Path(path).expanduser().resolve()
    return dest / name if dest.is_dir() else dest


def backup(path: str | None = None) -> tuple[Path, int]:
    """Copy the live SQLite database to ``path`` (see :func:`resolve_dest`);
    returns the file and its size. On PostgreSQL: BackupError with the
    pg_dump command (:func:`postgres_hint`)."""
    live = sqlite_database()
    if live is None:
        raise BackupError(postgres_hint("backup"))
    dest = resolve_dest(path)
    if dest.exists():
        raise BackupError(f"{dest} exists; choose another path (backups are never "
                          "overwritten)")
    if dest.parent.resolve() == live.parent and dest.name.startswith(live.name):
        raise BackupError(f"{dest} is the live database's own file name")
    return dest, backup_sqlite(live, dest)


# --- restore ---------------------------------------------------------------------

SQLITE_MAGIC = b"SQLite format 3\x00"
# Apps whose migrations mark a database as BanGUI's.
BANGUI_APPS = ("accounts", "jails")


def open_backup(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-only. Without a ``-wal`` beside it (a ``manage.py
    backup`` file never has one) also immutable: SQLite then creates no
    ``-shm``/``-wal`` files next to it."""
    uri = path.as_uri() + "?mode=ro"
    if not Path(f"{path}-wal").exists():
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True)


def check_backup(path: Path) -> tuple[sqlite3.Connection, list[str]]:
    """Raise BackupError unless ``path`` is a sound BanGUI database no newer
    than this code. Returns the open connection and the code's migrations the
    backup lacks (``manage.py migrate`` adds them)."""
    if not path.exists():
        raise BackupError(f"{path}: no such file")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if head != SQLITE_MAGIC:
        raise BackupError(f"{path} is not a SQLite database")
    conn = open_backup(path)
    try:
        problems = integrity(conn)
        if problems != "ok":
            raise BackupError(f"{path} is damaged (integrity check: {problems})")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "django_migrations" not in tables:
            raise BackupError(f"{path} is a SQLite database but not BanGUI's "
                               "(it has no django_migrations table)")
        applied = set(conn.execute("SELECT app, name FROM django_migrations"))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise BackupError(f"{path} is not a usable SQLite database: {exc}") from None
    except BackupError:
        conn.close()
        raise
    missing_apps = [app for app in BANGUI_APPS if not any(a == app for a, _ in applied)]
    if missing_apps:
        conn.close()
        raise BackupError(f"{path} is a Django database but not BanGUI's (no migrations "
                           f"of {', '.join(missing_apps)})")
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    # Apps this code no longer has are left alone; for the ones it has,
    # every applied migration must exist here.
    newer = sorted(f"{app}.{name}" for app, name in applied
                   if app in loader.migrated_apps and (app, name) not in known)
    if newer:
        conn.close()
        raise BackupError(
            f"{path} comes from a newer BanGUI: it has migrations this code does not "
            f"know ({', '.join(newer)}). Restore it with that version (or a later one); "
            "nothing was changed.")
    return conn, _pending(loader, applied)


def _pending(loader: MigrationLoader, applied: set[tuple[str, str]]) -> list[str]:
    """This code's migrations the backup has not applied (a squashed one
    counts as applied when everything it replaces is, and the other way)."""
    squashes = {key: {tuple(r) for r in m.replaces}
                for key, m in loader.disk_migrations.items() if m.replaces}
    done = set(applied)
    for key, replaced in squashes.items():
        if replaced <= done:
            done.add(key)
        if key in done:
            done |= replaced
    return sorted(f"{app}.{name}" for app, name in set(loader.disk_migrations) - done)


def install(source: sqlite3.Connection, target: Path) -> None:
    """Copy ``source`` over ``target`` atomically (see the module docstring)."""
    staged = _temp_beside(target, ".restore")
    try:
        _copy_into(source, staged, check=False)
        if not target.exists():
            os.chmod(staged, 0o600)
            os.replace(staged, target)
            return
        staged_conn = sqlite3.connect(staged.as_uri() + "?mode=ro", uri=True)
        live = sqlite3.connect(target, timeout=30)
        try:
            staged_conn.backup(live)  # one write transaction on the live database
            with contextlib.suppress(sqlite3.Error):
                live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            live.close()
            staged_conn.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()


@dataclass
class Restored:
    source: Path
    target: Path
    saved: Path | None  # the database as it was before, when there was one
    behind: list[str] = field(default_factory=list)  # migrations the backup lacks


def restore(path: str, confirm: Callable[[Path, Path], bool]) -> Restored:
    """Check the backup at ``path``, ask ``confirm(target, source)``, save
    the current database, then install the backup (see above). BackupError,
    nothing changed, when a check fails or ``confirm`` says no."""
    target = sqlite_database()
    if target is None:
        raise BackupError(postgres_hint("restore"))
    source_path = Path(path).expanduser().resolve()
    if source_path == target:
        raise BackupError(f"{source_path} is the live database itself")
    conn, behind = check_backup(source_path)
    try:
        if not confirm(target, source_path):
            raise BackupError("not confirmed: run it again with --yes (or answer 'yes' "
                              "at the prompt); nothing was changed")
        saved = None
        if target.exists():
            saved = default_backup_dir() / f"bangui-before-restore-{utc_stamp()}.sqlite3"
            backup_sqlite(target, saved)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            install(conn, target)
        except (sqlite3.Error, OSError) as exc:
            raise BackupError(f"the restore failed ({exc}); the database is unchanged"
                              + (f" (a copy of it: {saved})" if saved else "")) from None
    finally:
        conn.close()
    return Restored(source_path, target, saved, behind)
