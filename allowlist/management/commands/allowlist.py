"""The allow-list from the command line (the /allowlist/ page's twin).

    manage.py allowlist add ADDRESS|NETWORK|HOST [--note TEXT] [--expires DURATION]
                            [--jail JAIL] [--node NAME | --label L]
    manage.py allowlist list
    manage.py allowlist remove ID

``--expires``: 30m, 8h, 1d, 2w, 1h 30m, or seconds. The change applies at
once through the one dispatch (each node's worker re-applies it anyway);
audited as ``cli:<login name>``. Exit 0 on success, 1 when refused (nothing
changed).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management.commands.setup import _login_name
from allowlist import sync
from allowlist.forms import duration
from allowlist.models import AllowEntry
from jails.fail2ban import InvalidInput
from jails.fleet import dispatch


class Command(BaseCommand):
    help = "Add, list and remove allow-list entries (like /allowlist/)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = sub.add_parser("add", help="allow-list an address, a network or a host name")
        add.add_argument("value", metavar="ADDRESS|NETWORK|HOST")
        add.add_argument("--note", default="")
        add.add_argument("--expires", metavar="DURATION", default="",
                         help="30m, 8h, 1d, 2w …; default: never")
        add.add_argument("--jail", default="", help="one jail; default: every jail")
        where = add.add_mutually_exclusive_group()
        where.add_argument("--node", default="", metavar="NAME", help="one node")
        where.add_argument("--label", default="", metavar="L",
                           help="the nodes carrying label L")
        sub.add_parser("list", help="every entry")
        remove = sub.add_parser("remove", help="remove an entry")
        remove.add_argument("id", type=int, metavar="ID")

    def handle(self, *args, **options):
        self.actor = f"cli:{_login_name()}"
        getattr(self, "handle_" + options["action"])(options)

    def _said(self, sent, verb: str) -> None:
        """Each node's answer (waiting for them as ``f2b`` does)."""
        give_up = time.monotonic() + settings.BANGUI_COMMAND_WAIT_SECONDS
        for jail, ticket in sent:
            while ticket.pending and time.monotonic() < give_up:
                time.sleep(dispatch.POLL_SECONDS)
                ticket = dispatch.collect(ticket)
            for r in ticket.replies:
                state = (f"{verb} in {jail}" if r.ok else
                         f"no answer yet for {jail} (its worker applies it)" if r.pending else
                         f"not {verb} in {jail}: {r.message} (its worker retries)")
                self.stdout.write(f"  {r.node}: {state}")

    def handle_add(self, options) -> None:
        try:
            expires = duration(options["expires"]) if options["expires"] else None
        except ValueError as exc:
            raise CommandError(f"--expires: {exc}") from None
        try:
            entry, sent = sync.add(
                options["value"], actor=self.actor, by=self.actor, note=options["note"],
                expires_at=timezone.now() + expires if expires else None, jail=options["jail"],
                node=options["node"], label=options["label"])
        except ValidationError as exc:
            raise CommandError(f"refused, nothing changed: {'; '.join(exc.messages)}") from None
        except InvalidInput as exc:
            raise CommandError(f"refused, nothing changed: {exc}") from None
        self.stdout.write(f"{entry.pk}: allow-listed {entry.value} ({entry.scope})"
                          + (f" until {entry.expires_at:%Y-%m-%d %H:%M:%S} UTC"
                             if entry.expires_at else ""))
        self._said(sent, "added")

    def handle_list(self, options) -> None:
        now = timezone.now()
        for e in AllowEntry.objects.order_by("id"):
            state = "expired" if e.is_expired(now) else "active"
            until = f"until {e.expires_at:%Y-%m-%d %H:%M:%S} UTC" if e.expires_at else "no expiry"
            self.stdout.write(f"{e.pk}\t{e.value}\t{e.scope}\t{state}, {until}\t"
                              f"added by {e.added_by} {e.created_at:%Y-%m-%d %H:%M} UTC"
                              + (f"\t{e.note}" if e.note else ""))

    def handle_remove(self, options) -> None:
        entry = AllowEntry.objects.filter(pk=options["id"]).first()
        if entry is None:
            raise CommandError(f"no allow-list entry {options['id']}")
        value, scope = entry.value, entry.scope
        sent = sync.remove(entry, actor=self.actor, by=self.actor)
        self.stdout.write(f"removed {value} ({scope})")
        self._said(sent, "removed")
