"""Create BanGUI's own jails (manual, blocklist-import) when they are missing.

Exit codes: 0 created or nothing to do, 1 refused or rolled back.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts import audit
from jails.config import files as config_files
from jails.config import jail as jail_config


class Command(BaseCommand):
    help = "Create jail.d/bangui-*.local for BanGUI's own jails when missing (never overwrites)."

    def handle(self, *args, **options) -> None:
        try:
            outcome = jail_config.provision()
        except config_files.ConfigError as exc:
            audit.record("cli", "config.provision", result=audit.FAILED, detail=str(exc))
            raise CommandError(str(exc)) from None
        if outcome is None:
            self.stdout.write("BanGUI's jails are configured already; nothing to do.")
            return
        audit.record("cli", "config.provision", target=", ".join(outcome.changed),
                     result=audit.OK if outcome.ok else audit.FAILED, detail=outcome.message)
        if not outcome.ok:
            raise CommandError(outcome.message)
        self.stdout.write(self.style.SUCCESS(outcome.message))
