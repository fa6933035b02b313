"""Ops interface to fail2ban: ``manage.py f2b status|ban|unban|start|stop|reload``.

Exit code 0 on success; on failure one ``CommandError:`` line on stderr and exit code 1
(fail2ban refused or unreachable) or 2 (bad input: nothing was sent).
"""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import audit
from jails.fail2ban import Fail2banError, InvalidInput, validation
from jails.live import actions, link

EXIT_FAILED = 1
EXIT_INPUT = 2


class Command(BaseCommand):
    help = "Talk to fail2ban: status, ban, unban, start, stop, reload."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="server status, or one jail's")
        status.add_argument("jail", nargs="?")
        ban = sub.add_parser("ban", help="ban IPs in a jail")
        ban.add_argument("jail")
        ban.add_argument("ips", nargs="+")
        unban = sub.add_parser("unban", help="unban IPs from a jail, or from all jails")
        unban.add_argument("targets", nargs="+", metavar="[JAIL] IP")
        for name in ("start", "stop"):
            sub.add_parser(name, help=f"{name} a jail").add_argument("jail")
        sub.add_parser("reload", help="reload the config, or one jail").add_argument(
            "jail", nargs="?")

    def handle(self, *args, action: str, **options) -> None:
        actor = f"cli:{getpass.getuser()}"
        target = " ".join([options.get("jail") or "", *(options.get("ips") or []),
                           *(options.get("targets") or [])]).strip()
        try:
            getattr(self, f"_{action}")(actor=actor, **options)
        except Fail2banError as exc:
            if action != "status":
                audit.record(actor, f"f2b.{action}", target=target, result=audit.FAILED,
                             detail=str(exc))
            self._fail(str(exc), EXIT_INPUT if isinstance(exc, InvalidInput) else EXIT_FAILED)
        if action != "status":
            audit.record(actor, f"f2b.{action}", target=target)

    def _fail(self, message: str, code: int) -> None:
        raise CommandError(message, returncode=code)

    def _status(self, jail: str | None = None, **_) -> None:
        client = link.client()
        if jail:
            s = client.jail_status(jail)
            self.stdout.write(
                f"{s.name}: {s.currently_banned} banned now, {s.total_banned} total; "
                f"{s.currently_failed} failing now, {s.total_failed} total failures"
            )
            for path in s.file_list:
                self.stdout.write(f"  log: {path}")
            for ip in s.banned_ips:
                self.stdout.write(f"  banned: {ip}")
            return
        overview = client.overview()
        self.stdout.write(f"fail2ban {overview.version} at {client.socket_path}: "
                          f"{len(overview.jails)} jails, {overview.currently_banned} banned now")
        for s in overview.jails:
            self.stdout.write(f"  {s.name}: {s.currently_banned} banned, "
                              f"{s.currently_failed} failing")

    def _ban(self, jail: str, ips: list[str], actor: str, **_) -> None:
        count = actions.ban(jail, ips, actor)
        self.stdout.write(f"banned {count} new of {len(ips)} in {jail}")

    def _unban(self, targets: list[str], actor: str, **_) -> None:
        first = targets[0]
        try:
            validation.ip_address(first)
            jail, ips = None, targets
        except InvalidInput:
            jail, ips = first, targets[1:]
            if not ips:
                raise InvalidInput("no IP address given") from None
        count = actions.unban(ips, actor, jail)
        self.stdout.write(f"unbanned {count} from {jail or 'all jails'}")

    def _start(self, jail: str, **_) -> None:
        link.cli().start_jail(jail)
        self.stdout.write(f"started {jail}")

    def _stop(self, jail: str, actor: str, **_) -> None:
        lifted = actions.stop_jail(jail, actor)
        self.stdout.write(f"stopped {jail}; {lifted} bans lifted")

    def _reload(self, jail: str | None = None, **_) -> None:
        link.cli().reload(jail)
        self.stdout.write(f"reloaded {jail or 'all jails'}")
