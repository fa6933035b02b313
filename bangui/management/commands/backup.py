"""``manage.py backup [PATH]``: an online copy of BanGUI's SQLite database.

SQLite's backup API (``sqlite3.Connection.backup``, all pages in one step)
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
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


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


def copy_database(source: sqlite3.Connection, dest: Path) -> int:
    """Copy ``source`` into a new file at ``dest`` (which must not exist):
    one backup step, written to a temp file beside ``dest``, checked, mode
    0600, then renamed. Returns its size. Raises CommandError (nothing left
    behind) when anything fails."""
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        copy = sqlite3.connect(tmp)
        try:
            source.backup(copy)  # pages=-1: everything in one step, one snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal/-shm
            problems = integrity(copy)
        finally:
            copy.close()
        if problems != "ok":
            raise CommandError(f"the copy failed its integrity check ({problems}); "
                               "nothing was written")
        os.chmod(tmp, 0o600)
        if dest.exists():  # created meanwhile: never overwrite a backup
            raise CommandError(f"{dest} exists; nothing was written")
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        raise CommandError(f"the backup failed: {exc}; nothing was written") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest.stat().st_size


def backup_sqlite(live: Path, dest: Path) -> int:
    if not live.is_file():
        raise CommandError(f"there is no database at {live} (run manage.py migrate first)")
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


class Command(BaseCommand):
    help = ("Copy BanGUI's SQLite database to PATH while web and worker run (default: "
            "$BANGUI_DATA_DIR/backups/bangui-<UTC time>.sqlite3). PostgreSQL: prints the "
            "pg_dump command instead.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", nargs="?", help="file or directory for the copy")

    def handle(self, *args, path: str | None = None, **options) -> None:
        live = sqlite_database()
        if live is None:
            raise CommandError(postgres_hint("backup"))
        dest = resolve_dest(path)
        if dest.exists():
            raise CommandError(f"{dest} exists; choose another path (backups are never "
                               "overwritten)")
        if dest.parent.resolve() == live.parent and dest.name.startswith(live.name):
            raise CommandError(f"{dest} is the live database's own file name")
        size = backup_sqlite(live, dest)
        self.stdout.write(f"backup: {dest} ({size:,} bytes, integrity ok)")
        self.stdout.write(f"restore it with: manage.py restore {shlex.quote(str(dest))}")
