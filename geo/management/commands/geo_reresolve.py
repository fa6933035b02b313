from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from geo import tasks
from geo.service import get_cache


class Command(BaseCommand):
    help = ("Retry geo_cache rows with no country or resolved more than "
            "BANGUI_GEO_RERESOLVE_DAYS (default 30) ago.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, help="override the age in days")
        parser.add_argument("--limit", type=int, default=tasks.RERESOLVE_LIMIT)

    def handle(self, *args, days: int | None = None, limit: int = tasks.RERESOLVE_LIMIT,
               **options) -> None:
        cache = get_cache()
        # Not a web request: the HTTP fallback may run here, if configured.
        cache.allow_remote = settings.GEO_HTTP_FALLBACK
        resolved = tasks.reresolve(cache, days=days, limit=limit)
        self.stdout.write(f"geo re-resolve: {resolved} rows resolved")
