"""``manage.py nodes``: the fleet's nodes with heartbeat age, fail2ban
version, jails and archive lag (the same as ``/nodes/``)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from nodes.fleet import fleet


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
        nodes, now = fleet(), timezone.now()
        if options["json"]:
            self.stdout.write(json.dumps([{
                "name": n.name, "labels": n.labels, "up": n.is_up(now),
                "heartbeat_at": n.heartbeat_at.isoformat() if n.heartbeat_at else None,
                "heartbeat_age_seconds": n.heartbeat_age(now),
                "fail2ban_up": n.fail2ban_answers(now), "fail2ban_version": n.fail2ban_version,
                "jails": n.jails, "archive_lag_seconds": n.archive_lag(now),
            } for n in nodes], indent=2))
            return
        if not nodes:
            self.stdout.write("No node has registered yet: start a task cluster "
                              "(manage.py qcluster, with BANGUI_NODE=<name> on each host).")
            return
        header = ("NODE", "STATE", "HEARTBEAT", "FAIL2BAN", "JAILS", "ARCHIVE LAG", "LABELS")
        rows = [header]
        for n in nodes:
            up = n.is_up(now)
            state = "up" if up else f"down (stale since {n.heartbeat_at:%Y-%m-%d %H:%M:%S})" \
                if n.heartbeat_at else "down"
            f2b = (n.fail2ban_version or "?") if n.fail2ban_answers(now) else \
                "not answering" if up else (n.fail2ban_version or "?")
            rows.append((n.name + (" *" if n.is_local else ""), state,
                         _seconds(n.heartbeat_age(now)), f2b, str(len(n.jails)),
                         _seconds(n.archive_lag(now)), ",".join(n.labels) or "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                              .rstrip())
        self.stdout.write("* this process's node (BANGUI_NODE)")
