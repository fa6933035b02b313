"""``manage.py sync_schedules``: write the schedules declared in
``bangui/schedules.py`` into django-q2 (``migrate`` does this too).
Exit code 0; prints what changed."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from bangui.schedules import sync_schedules


class Command(BaseCommand):
    help = "Create/update BanGUI's django-q2 schedules from bangui/schedules.py."

    def handle(self, *args, **options) -> None:
        report = sync_schedules()
        for label, names in (("created", report.created), ("updated", report.updated),
                             ("deleted", report.deleted)):
            for name in names:
                self.stdout.write(f"{label}: {name}")
        self.stdout.write(f"schedules: {report}")
