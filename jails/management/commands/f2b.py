"""Ops interface to fail2ban: ``manage.py f2b [--node NAME | --all-nodes]
status|ban|unban|start|stop|reload``.

Without ``--node`` the command runs against this host's fail2ban, in this
process; with ``--node NAME`` (repeatable), ``--label`` or ``--all-nodes`` it
goes to those nodes' command lanes and each node's answer is printed as
``NAME: …``. One dispatch for both (jails/fleet/dispatch.py), which also
writes the audit trail; unlike the web, the CLI waits for the answers
(``BANGUI_COMMAND_WAIT_SECONDS``).

Exit code 0 on success; on failure one ``CommandError:`` line on stderr and exit code 1
(fail2ban refused or unreachable, or a node failed, was down or did not answer) or 2
(bad input: nothing was sent).
"""

from __future__ import annotations

import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jails.fail2ban import InvalidInput, validation
from jails.fleet import dispatch

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
        here = not (node or all_nodes or label is not None)
        try:
            command_args = _arguments(action, options)
            nodes = ([settings.BANGUI_NODE] if here else dispatch.all_nodes() if all_nodes else
                     dispatch.labelled(label) if label is not None else node)
            if not nodes:
                raise CommandError("no registered node matches", returncode=EXIT_FAILED)
            replies = dispatch.send(nodes, action, command_args, actor)
        except InvalidInput as exc:  # nothing sent (the dispatch audited the refusal)
            raise CommandError(str(exc), returncode=EXIT_INPUT) from None
        if here:  # this host's fail2ban: its words alone, as fail2ban-client would
            if not replies[0].ok:
                raise CommandError(replies[0].message, returncode=EXIT_FAILED)
            self.stdout.write(replies[0].message)
            return
        for reply in replies:
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
