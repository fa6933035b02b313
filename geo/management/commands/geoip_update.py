from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from geo.update import UpdateError, sources, update


class Command(BaseCommand):
    help = ("Download or refresh the geo databases: MaxMind GeoLite2 (needs "
            "BANGUI_MAXMIND_LICENSE_KEY) or a plain .mmdb/.mmdb.gz URL (BANGUI_GEOIP_URL, "
            "BANGUI_GEOIP_ASN_URL). Writes BANGUI_GEOIP_PATH if set, else the data "
            "directory's geoip/ folder. The worker runs it daily while a source is set.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--asn", action="store_true",
                            help="also fetch MaxMind's ASN edition (BANGUI_GEOIP_ASN_EDITION); "
                                 "BANGUI_GEOIP_ASN_URL, when set, is always fetched")

    def handle(self, *args, asn: bool = False, **options) -> None:
        try:
            todo = sources(asn=asn)
        except UpdateError as exc:
            raise CommandError(str(exc)) from None
        failed = []
        for result in update(todo):
            label = result.source.label
            if result.error:
                failed.append(f"{label}: {result.error}; the current database is unchanged")
            else:
                self.stdout.write(f"{label}: installed {result.database_type} at "
                                  f"{result.source.target}")
        if len(failed) < len(todo):
            self.stdout.write("Running processes pick the new file up within a minute.")
        if failed:
            raise CommandError("\n".join(failed))
