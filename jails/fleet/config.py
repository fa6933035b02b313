"""A node's fail2ban config files, read and changed by that node (docs/fleet.md,
"A node's config files"); this host is one node among them.

The web tier cannot touch another host's /etc/fail2ban; it sends the
``config_list``, ``config_read`` and ``config_save`` commands
(jails/fleet/commands.py) through the one dispatch -- run in this process
for this host's node, by the node's worker for the others -- and shapes
their answers as the editor's objects (``jails.config.files.ConfigFile``
and ``Outcome``), so one editor shows either. The transaction itself
(validate with ``fail2ban-client -t``, back up, write, reload, roll back on
failure) is ``jails.config.files.apply`` on the node; the dispatch audits
each save ("config.save", the path, the node).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from jails.config import files
from jails.fail2ban import InvalidInput
from jails.fleet import dispatch


class NotAnswered(files.ConfigError):
    """The node did not run the command (down, not registered, no answer in
    time, dropped): why."""


class Refused(files.ConfigError):
    """The command was refused with a reason: arguments the dispatch would not
    send, or the node's own refusal (a path it will not read or write, a text
    fail2ban would not take, another change still running)."""


def _where(node: str) -> str:
    """How a message names the node: not at all for this host's."""
    return "" if node == settings.BANGUI_NODE else f"on {node}: "


def _ask(node: str, command: str, args: dict, actor: str, by: object = None,
         ticket: dispatch.Ticket | None = None) -> dict:
    """The node's answer's data; dispatch.Pending while it has not answered
    (the page polls with the ticket: the web never waits on a node)."""
    try:
        reply = dispatch.ask(node, command, args, actor, by=by, ticket=ticket)
    except InvalidInput as exc:  # nothing sent (a save's refusal is audited there)
        raise Refused(_where(node) + str(exc)) from None
    if reply.data is not None:  # answered, done or not (a stale or rolled-back save)
        return reply.data
    if reply.refusal:
        raise Refused(_where(node) + reply.refusal)
    raise NotAnswered(_where(node) + reply.message)


def listing_on(node: str, actor: str, ticket: dispatch.Ticket | None = None
               ) -> dict[str, list[str]]:
    return {str(k): [str(f) for f in v] for k, v in _ask(
        node, "config_list", {}, actor, ticket=ticket)["files"].items()}


def _file(data: dict) -> files.ConfigFile:
    return files.ConfigFile(str(data["rel"]), data["text"], data.get("link"))


def read_on(node: str, rel: str, actor: str, ticket: dispatch.Ticket | None = None
            ) -> files.ConfigFile:
    """The file as the node has it. Raises Refused (a path it will not
    show), NotAnswered or dispatch.Pending."""
    return _file(_ask(node, "config_read", {"path": rel}, actor, ticket=ticket))


@dataclass
class Saved:
    outcome: files.Outcome
    file: files.ConfigFile  # as it is on the node after the transaction


def save_on(node: str, rel: str, text: str, expected: str, actor: str, *,
            by: object = None, ticket: dispatch.Ticket | None = None) -> Saved:
    """The node's config transaction, audited by the dispatch as ``by``
    (default ``actor``). Raises StaleEdit (someone saved it there since),
    Refused, NotAnswered or dispatch.Pending (``ticket``: the save sent
    earlier, whose answer is read now); a rolled-back save is an Outcome."""
    data = _ask(node, "config_save", {"path": rel, "text": text, "expected": expected},
                actor, by, ticket=ticket)
    if "stale" in data:
        stale = data["stale"]  # "current" is "" for a file deleted since: its hash says
        current = None if stale.get("current_hash") == files.ABSENT else stale["current"]
        raise files.StaleEdit(rel, current, stale["attempted"])
    return Saved(files.Outcome(**data["outcome"]), _file(data["file"]))


def restore_on(node: str, rel: str, version: int, expected: str, actor: str, *,
               by: object = None, ticket: dispatch.Ticket | None = None) -> Saved:
    """A version of the config history (jails/config/history.py) written
    back by the node through the same transaction as a save (test, back up,
    write, reload, roll back), audited as ``config.restore``. ``expected``:
    the file's version the history page showed. Raises as :func:`save_on`."""
    data = _ask(node, "config_restore", {"path": rel, "version": version,
                                         "expected": expected}, actor, by, ticket=ticket)
    if "stale" in data:
        stale = data["stale"]
        current = None if stale.get("current_hash") == files.ABSENT else stale["current"]
        raise files.StaleEdit(rel, current, stale["attempted"])
    return Saved(files.Outcome(**data["outcome"]), _file(data["file"]))
