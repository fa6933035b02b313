"""``manage.py import_blocklist [SOURCE ...]``: import now (all enabled
sources when none is named). Exit 1 when any run failed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from blocklists.importer import AlreadyRunning, run_import
from blocklists.models import BlocklistSource, ImportRun
from geo import tasks as geo_tasks


class Command(BaseCommand):
    help = "Import blocklist sources now (all enabled ones by default)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("sources", nargs="*", help="source names")

    def handle(self, *args, sources: list[str], **options) -> None:
        if sources:
            found = {s.name: s for s in BlocklistSource.objects.filter(name__in=sources)}
            missing = [name for name in sources if name not in found]
            if missing:
                raise CommandError(f"no blocklist source named {', '.join(missing)}")
            todo = [found[name] for name in sources]
        else:
            todo = list(BlocklistSource.objects.filter(enabled=True))
        try:
            failed = self._import(todo)
        finally:
            geo_tasks.flush()  # this process's last_seen touches (answers are written already)
        if failed:
            raise CommandError(f"{failed} of {len(todo)} imports failed")

    def _import(self, todo: list[BlocklistSource]) -> int:
        failed = 0
        for source in todo:
            try:
                run = run_import(source, actor="cli")
            except AlreadyRunning as exc:
                self.stderr.write(str(exc))
                failed += 1
                continue
            if run.status == ImportRun.Status.OK:
                self.stdout.write(
                    f"{source.name}: {run.valid} valid, {run.invalid} invalid, "
                    f"{run.newly_banned} newly banned, {run.already_banned} already banned")
            else:
                failed += 1
                self.stderr.write(f"{source.name}: failed: {run.error}")
        return failed
