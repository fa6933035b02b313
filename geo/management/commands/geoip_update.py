from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from geo.update import UpdateError, download_url, install


class Command(BaseCommand):
    help = ("Download or refresh MaxMind GeoLite2 (needs BANGUI_MAXMIND_LICENSE_KEY). "
            "Writes BANGUI_GEOIP_PATH if set, else the data directory's geoip/ folder.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--asn", action="store_true",
                            help="also fetch the ASN edition (BANGUI_GEOIP_ASN_EDITION)")

    def handle(self, *args, asn: bool = False, **options) -> None:
        key = settings.MAXMIND_LICENSE_KEY
        if not key:
            raise CommandError(
                "BANGUI_MAXMIND_LICENSE_KEY is not set. Country lookups keep using the bundled "
                "database; see docs/geo.md to get a free GeoLite2 key."
            )
        download_dir = Path(settings.GEOIP_DOWNLOAD_DIR)
        jobs = [(settings.GEOIP_EDITION, "country",
                 Path(settings.GEOIP_PATH) if settings.GEOIP_PATH
                 else download_dir / f"{settings.GEOIP_EDITION}.mmdb")]
        if asn:
            jobs.append((settings.GEOIP_ASN_EDITION, "asn",
                         Path(settings.GEOIP_ASN_PATH) if settings.GEOIP_ASN_PATH
                         else download_dir / f"{settings.GEOIP_ASN_EDITION}.mmdb"))
        for edition, kind, target in jobs:
            url = download_url(settings.GEOIP_DOWNLOAD_URL, edition, key)
            try:
                database_type = install(url, target, kind=kind)
            except UpdateError as exc:
                raise CommandError(f"{edition}: {exc}; the current database is unchanged") from None
            self.stdout.write(f"{edition}: installed {database_type} at {target}")
        self.stdout.write("Running processes pick the new file up within a minute.")
