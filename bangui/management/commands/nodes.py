"""``manage.py nodes``: the fleet's nodes with heartbeat age, fail2ban
version, jails and archive lag (the same as ``/nodes/``)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from bangui.nodes import fleet


def _seconds(value: float | None) -> str:
    if value is None:
        return "never"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


class Command(BaseCommand):
    help = "List the fleet's nodes: state, heartbeat age, fail2ban version, jails, archive lag."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="One JSON document.")

    def handle(self, *args, **options):
        states = fleet()
        if options["json"]:
            self.stdout.write(json.dumps([{
                "name": s.name, "labels": s.labels, "up": s.up,
                "heartbeat_at": s.heartbeat_at.isoformat() if s.heartbeat_at else None,
                "heartbeat_age_seconds": s.heartbeat_age,
                "fail2ban_up": s.fail2ban_up, "fail2ban_version": s.fail2ban_version,
                "jails": s.jails, "archive_lag_seconds": s.archive_lag,
            } for s in states], indent=2))
            return
        if not states:
            self.stdout.write("No node has registered yet: start a task cluster "
                              "(manage.py qcluster, with BANGUI_NODE=<name> on each host).")
            return
        header = ("NODE", "STATE", "HEARTBEAT", "FAIL2BAN", "JAILS", "ARCHIVE LAG", "LABELS")
        rows = [header]
        for s in states:
            state = "up" if s.up else f"down (stale since {s.heartbeat_at:%Y-%m-%d %H:%M:%S})" \
                if s.heartbeat_at else "down"
            f2b = (s.fail2ban_version or "?") if s.fail2ban_up else "not answering" if s.up \
                else (s.fail2ban_version or "?")
            rows.append((s.name + (" *" if s.local else ""), state, _seconds(s.heartbeat_age),
                         f2b, str(len(s.jails)), _seconds(s.archive_lag),
                         ",".join(s.labels) or "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                              .rstrip())
        self.stdout.write("* this process's node (BANGUI_NODE)")
