"""``manage.py restore PATH [--yes]``: put a ``manage.py backup`` copy back
as BanGUI's SQLite database.

Checks first, changes nothing when one fails: PATH is a SQLite file that
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
import sqlite3
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.migrations.loader import MigrationLoader

from bangui.management.commands.backup import (
    backup_sqlite,
    default_backup_dir,
    integrity,
    postgres_hint,
    sqlite_database,
    utc_stamp,
)

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
    """Raise CommandError unless ``path`` is a sound BanGUI database no newer
    than this code. Returns the open connection and the code's migrations the
    backup lacks (``manage.py migrate`` adds them)."""
    if not path.exists():
        raise CommandError(f"{path}: no such file")
    if not path.is_file():
        raise CommandError(f"{path} is not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    if head != SQLITE_MAGIC:
        raise CommandError(f"{path} is not a SQLite database")
    conn = open_backup(path)
    try:
        problems = integrity(conn)
        if problems != "ok":
            raise CommandError(f"{path} is damaged (integrity check: {problems})")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "django_migrations" not in tables:
            raise CommandError(f"{path} is a SQLite database but not BanGUI's "
                               "(it has no django_migrations table)")
        applied = set(conn.execute("SELECT app, name FROM django_migrations"))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CommandError(f"{path} is not a usable SQLite database: {exc}") from None
    except CommandError:
        conn.close()
        raise
    missing_apps = [app for app in BANGUI_APPS if not any(a == app for a, _ in applied)]
    if missing_apps:
        conn.close()
        raise CommandError(f"{path} is a Django database but not BanGUI's (no migrations "
                           f"of {', '.join(missing_apps)})")
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    # Apps this code no longer has are left alone; for the ones it has,
    # every applied migration must exist here.
    newer = sorted(f"{app}.{name}" for app, name in applied
                   if app in loader.migrated_apps and (app, name) not in known)
    if newer:
        conn.close()
        raise CommandError(
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


def confirm(target: Path, path: Path) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"Replace every row of {target} with the content of {path}? "
                   "Type 'yes' to continue: ")
    return answer.strip().lower() == "yes"


def install(source: sqlite3.Connection, target: Path) -> None:
    """Copy ``source`` over ``target`` atomically (see the module docstring)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".restore")
    os.close(fd)
    staged = Path(name)
    try:
        copy = sqlite3.connect(staged)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
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


class Command(BaseCommand):
    help = ("Replace BanGUI's SQLite database with a copy made by manage.py backup "
            "(the current one is saved first). Restart web and worker afterwards.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="a file written by manage.py backup")
        parser.add_argument("--yes", action="store_true",
                            help="do not ask for confirmation")

    def handle(self, *args, path: str, yes: bool = False, **options) -> None:
        target = sqlite_database()
        if target is None:
            raise CommandError(postgres_hint("restore"))
        source_path = Path(path).expanduser().resolve()
        if source_path == target:
            raise CommandError(f"{source_path} is the live database itself")
        conn, behind = check_backup(source_path)
        try:
            if not yes and not confirm(target, source_path):
                raise CommandError("not confirmed: run it again with --yes (or answer 'yes' "
                                   "at the prompt); nothing was changed")
            saved = None
            if target.exists():
                saved = default_backup_dir() / f"bangui-before-restore-{utc_stamp()}.sqlite3"
                backup_sqlite(target, saved)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                install(conn, target)
            except (sqlite3.Error, OSError) as exc:
                raise CommandError(f"the restore failed ({exc}); the database is unchanged"
                                   + (f" (a copy of it: {saved})" if saved else "")) from None
        finally:
            conn.close()
        self.stdout.write(f"restored {source_path} into {target} "
                          f"({target.stat().st_size:,} bytes)")
        if saved:
            self.stdout.write(f"the database as it was before: {saved}")
        if behind:
            self.stdout.write(f"the backup is older than this code ({len(behind)} migrations "
                              "behind): run manage.py migrate")
        self.stdout.write("Now restart the web and the worker (systemctl restart bangui-web "
                          "bangui-worker, or docker compose restart web worker): they still "
                          "hold caches of the old data.")
