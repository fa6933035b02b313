"""``manage.py sync_bans [--db PATH] [--purge] [--full]``: copy fail2ban's new
bans into BanGUI's archive now (the worker does it on a schedule). It
changes rows only, so a node's database role may run it.

Owner-only (the role that runs ``migrate``; ``jails/archive/backfill.py``):
``--backfill`` copies a long history into an empty archive with the indexes
(and SQLite's rollup triggers) deferred, and refuses an archive that holds
any row; ``--rebuild-rollup`` only creates missing archive indexes, puts the
daily rollup's triggers back and recounts it (``jails/archive/rollup.py``;
the triggers keep it exact, this is for repairs).

``--fill-countries`` only looks up the countries of archived rows stored
without one, over the whole archive (the hourly schedule looks a week
back), then exits.

Exit code 0 on success; 1 when the sync failed (fail2ban unreachable, its
database unreadable); 2 for bad arguments. Output: one line per step.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geo import tasks as geo_tasks
from jails.archive import backfill as owner
from jails.archive import sync as archive
from jails.fail2ban import Fail2banError

EXIT_FAILED = 1
FILL_ALL_ROWS = 1_000_000  # rows read by --fill-countries (distinct addresses go to geo)


class Command(BaseCommand):
    help = "Archive new bans from fail2ban's database (incremental, safe to repeat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--db", metavar="PATH",
                            help="fail2ban's sqlite file (default: ask fail2ban: get dbfile)")
        parser.add_argument("--full", action="store_true",
                            help="re-read every row, not only new ones (duplicates are ignored)")
        parser.add_argument("--purge", action="store_true",
                            help="also delete archived bans older than the retention")
        parser.add_argument("--retention-days", type=int, metavar="N",
                            help="retention for --purge (default BANGUI_ARCHIVE_RETENTION_DAYS)")
        parser.add_argument("--batch-size", type=int, default=archive.DEFAULT_BATCH_SIZE,
                            metavar="N",
                            help="rows per page read and per transaction (default "
                                 f"%(default)s; --backfill writes {owner.BACKFILL_WRITE_ROWS:,} "
                                 "per transaction)")
        parser.add_argument("--no-geo", action="store_true",
                            help="do not look up countries for new rows")
        parser.add_argument("--backfill", action="store_true",
                            help="a first sync into an empty archive, with the indexes built "
                                 "after the copy (faster; the database owner only)")
        parser.add_argument("--rebuild-rollup", action="store_true",
                            help="only create missing archive indexes, reinstall the daily "
                                 "rollup's triggers and recount it, then exit (the database "
                                 "owner only)")
        parser.add_argument("--fill-countries", action="store_true",
                            help="only look up countries for archived rows without one "
                                 "(the whole archive), then exit")

    def handle(self, *args, db: str | None, full: bool, purge: bool,
               retention_days: int | None, batch_size: int, no_geo: bool,
               backfill: bool, rebuild_rollup: bool, fill_countries: bool,
               **options) -> None:
        if fill_countries:
            filled = archive.fill_missing_countries(limit=FILL_ALL_ROWS, days=None)
            geo_tasks.flush()
            self.stdout.write(f"archived bans that got a country: {filled}")
            return
        if rebuild_rollup:
            if backfill:
                raise CommandError("--backfill and --rebuild-rollup do not go together",
                                   returncode=2)
            created, rows = owner.repair()
            if created:
                self.stdout.write(f"created indexes: {', '.join(created)}")
            self.stdout.write(f"daily rollup rebuilt: {rows} rows")
            return
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1", returncode=2)
        if retention_days is not None and retention_days < 1:
            raise CommandError("--retention-days must be at least 1", returncode=2)
        if backfill and full:
            raise CommandError("--backfill reads every row already; drop --full", returncode=2)
        try:
            if backfill:
                result = owner.run(db, batch_size=batch_size, fill_geo=not no_geo)
            else:
                result = archive.sync(db, batch_size=batch_size, full=full,
                                      fill_geo=not no_geo)
        except owner.BackfillRefused as exc:
            raise CommandError(f"backfill refused: {exc}", returncode=EXIT_FAILED) from None
        except (archive.ArchiveError, Fail2banError) as exc:
            raise CommandError(f"sync failed: {exc}", returncode=EXIT_FAILED) from None
        finally:
            # Geo answers are written as they are resolved; the last_seen
            # touches of this process wait in its memory: write them now.
            geo_tasks.flush()
        self.stdout.write(f"{result.db_path}: {result}")
        if purge:
            removed = archive.purge(retention_days)
            self.stdout.write(f"purged {removed} archived bans past the retention")
