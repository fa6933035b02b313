"""``manage.py backup [PATH]``: an online copy of BanGUI's SQLite database
(the logic and its guarantees: bangui/backup.py). PostgreSQL: refused, with
the ``pg_dump`` and ``pg_restore`` commands. Restore with ``manage.py
restore PATH``; docs/operations.md."""

from __future__ import annotations

import shlex

from django.core.management.base import BaseCommand, CommandError

from bangui.backup import BackupError, backup


class Command(BaseCommand):
    help = ("Copy BanGUI's SQLite database to PATH while web and worker run (default: "
            "$BANGUI_DATA_DIR/backups/bangui-<UTC time>.sqlite3). PostgreSQL: prints the "
            "pg_dump command instead.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", nargs="?", help="file or directory for the copy")

    def handle(self, *args, path: str | None = None, **options) -> None:
        try:
            dest, size = backup(path)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"backup: {dest} ({size:,} bytes, integrity ok)")
        self.stdout.write(f"restore it with: manage.py restore {shlex.quote(str(dest))}")
