from __future__ import annotations

from django.core.management.base import BaseCommand

from geo import tasks


class Command(BaseCommand):
    help = "Write this process's pending geo answers and last_seen touches to geo_cache."

    def handle(self, *args, **options) -> None:
        # A fresh process has nothing pending; the schedule runs this in the
        # worker, where the dirty set lives.
        written = tasks.flush()
        self.stdout.write(f"geo flush: {written} rows written")
