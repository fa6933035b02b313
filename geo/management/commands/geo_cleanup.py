from __future__ import annotations

from django.core.management.base import BaseCommand

from geo import tasks


class Command(BaseCommand):
    help = "Delete geo_cache rows not seen for BANGUI_GEO_RETENTION_DAYS (default 90)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, help="override the retention in days")

    def handle(self, *args, days: int | None = None, **options) -> None:
        deleted = tasks.cleanup(days=days)
        self.stdout.write(f"geo cleanup: {deleted} rows deleted")
