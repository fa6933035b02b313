"""Ops interface to fail2ban: ``manage.py f2b [--node NAME | --all-nodes]
status|ban|unban|start|stop|reload``.

Without ``--node`` the command talks to this host's fail2ban directly; with
``--node NAME`` (repeatable) or ``--all-nodes`` it is queued to those nodes'
task clusters and each node's answer is printed as ``NAME: …`` (one
vocabulary for both: jails/fleet/commands.py).

Exit code 0 on success; on failure one ``CommandError:`` line on stderr and exit code 1
(fail2ban refused or unreachable, or a node failed, was down or did not answer) or 2
(bad input: nothing was sent).
"""

from __future__ import annotations

import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import audit
from jails.fail2ban import Fail2banError, InvalidInput, validation
from jails.fleet import commands

EXIT_FAILED = 1
EXIT_INPUT = 2


class Command(BaseCommand):
    help = "Talk to fail2ban (here, or on fleet nodes): status, ban, unban, start, stop, reload."

    def add_arguments(self, parser: CommandParser) -> None:
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--node", action="append", metavar="NAME",
                           help="run on this node's task cluster (repeatable)")
        where.add_argument("--all-nodes", action="store_true",
                           help="run on every registered node")
        where.add_argument("--label", metavar="LABEL",
                           help="run on every node carrying this label")
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
        sub.add_parser("unbanall", help="unban every IP of a jail").add_argument("jail")
        ignore = sub.add_parser("ignore", help="add an IP or network to a running jail's "
                                               "ignore list (--remove: take it off)")
        ignore.add_argument("jail")
        ignore.add_argument("value", metavar="IP_OR_NETWORK")
        ignore.add_argument("--remove", action="store_true")
        sub.add_parser("reload", help="reload the config, or one jail").add_argument(
            "jail", nargs="?")

    def handle(self, *args, action: str, node=None, all_nodes=False, label=None,
               **options) -> None:
        actor = f"cli:{getpass.getuser()}"
        try:
            command_args = _arguments(action, options)
            nodes = (commands.all_nodes() if all_nodes else
                     commands.labelled(label) if label is not None else node)
            if nodes is not None:
                self._on_nodes(nodes, action, command_args, actor)
                return
            target = _target(command_args)
            message = commands.run_here(action, command_args, actor)
        except Fail2banError as exc:
            if action in commands.CHANGES:
                audit.record(actor, f"f2b.{action}", target=_target(command_args),
                             result=audit.FAILED, detail=str(exc), node=settings.BANGUI_NODE)
            raise CommandError(str(exc), returncode=EXIT_INPUT if isinstance(exc, InvalidInput)
                               else EXIT_FAILED) from None
        if action in commands.CHANGES:
            audit.record(actor, f"f2b.{action}", target=target, node=settings.BANGUI_NODE)
        self.stdout.write(message)

    def _on_nodes(self, nodes: list[str], action: str, args: dict, actor: str) -> None:
        if not nodes:
            raise CommandError("no registered node matches", returncode=EXIT_FAILED)
        replies = commands.send(nodes, action, args, actor)
        for reply in replies:
            if action in commands.CHANGES:
                audit.record(actor, f"f2b.{action}", target=_target(args),
                             result=audit.OK if reply.ok else audit.FAILED,
                             detail="" if reply.ok else reply.message, node=reply.node)
            for line in reply.message.splitlines():
                (self.stdout if reply.ok else self.stderr).write(f"{reply.node}: {line}")
        failed = [r.node for r in replies if not r.ok]
        if failed:
            raise CommandError(f"not done on {len(failed)} of {len(replies)} nodes: "
                               f"{', '.join(failed)}", returncode=EXIT_FAILED)


def _arguments(action: str, options: dict) -> dict:
    """The command's arguments from the command line."""
    if action == "unban":
        targets = options["targets"]
        try:
            validation.ip_address(targets[0])
            return {"ips": targets}
        except InvalidInput:
            return {"jail": targets[0], "ips": targets[1:]}
    out = {"jail": options.get("jail")}
    if action == "ban":
        out["ips"] = options["ips"]
    if action == "ignore":
        out.update(value=options["value"], remove=bool(options.get("remove")))
    return out


def _target(args: dict) -> str:
    return " ".join([args.get("jail") or "", *(args.get("ips") or []),
                     args.get("value") or ""]).strip()
