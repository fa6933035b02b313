"""``manage.py restore PATH [--yes]``: put a ``manage.py backup`` copy back
as BanGUI's SQLite database (the checks and the atomic swap:
bangui/backup.py). Asks first unless ``--yes``; afterwards the web and the
worker must be restarted. PostgreSQL: refused, with the ``pg_restore``
command."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bangui.backup import BackupError, restore


def confirm(target: Path, path: Path) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"Replace every row of {target} with the content of {path}? "
                   "Type 'yes' to continue: ")
    return answer.strip().lower() == "yes"


class Command(BaseCommand):
    help = ("Replace BanGUI's SQLite database with a copy made by manage.py backup "
            "(the current one is saved first). Restart web and worker afterwards.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="a file written by manage.py backup")
        parser.add_argument("--yes", action="store_true",
                            help="do not ask for confirmation")

    def handle(self, *args, path: str, yes: bool = False, **options) -> None:
        try:
            done = restore(path, confirm=(lambda *_: True) if yes else confirm)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored {done.source} into {done.target} "
                          f"({done.target.stat().st_size:,} bytes)")
        if done.saved:
            self.stdout.write(f"the database as it was before: {done.saved}")
        if done.behind:
            self.stdout.write(f"the backup is older than this code ({len(done.behind)} "
                              "migrations behind): run manage.py migrate")
        self.stdout.write("Now restart the web and the worker (systemctl restart bangui-web "
                          "bangui-worker, or docker compose restart web worker): they still "
                          "hold caches of the old data.")
