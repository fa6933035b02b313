"""A node's fail2ban config files, read and changed by that node's worker
(docs/fleet.md, "A node's config files").

The web tier cannot touch another host's /etc/fail2ban; it sends the
``config_list``, ``config_read`` and ``config_save`` commands
(jails/fleet/commands.py) and shapes their answers as the local editor's
objects (``jails.config.files.ConfigFile`` and ``Outcome``), so the same
template shows either. The transaction itself (validate with
``fail2ban-client -t``, back up, write, reload, roll back on failure) is
``jails.config.files.apply`` running on the node, the same code as here.
"""

from __future__ import annotations

from dataclasses import dataclass

from jails.config import files
from jails.fleet import dispatch


class NotAnswered(files.ConfigError):
    """The node did not run the command (down, refused, no answer): why."""


def _ask(node: str, command: str, args: dict, actor: str) -> dict:
    reply = dispatch.send([node], command, args, actor)[0]
    if not reply.ok or reply.data is None:
        raise NotAnswered(f"on {node}: {reply.message}")
    return reply.data


def listing_on(node: str, actor: str) -> dict[str, list[str]]:
    return {str(k): [str(f) for f in v] for k, v in _ask(node, "config_list", {}, actor)[
        "files"].items()}


def _file(data: dict) -> files.ConfigFile:
    return files.ConfigFile(str(data["rel"]), data["text"], data.get("link"))


def read_on(node: str, rel: str, actor: str) -> files.ConfigFile:
    """The file as the node has it; NotAnswered with the node's reason (a
    refused path among them)."""
    return _file(_ask(node, "config_read", {"path": rel}, actor))


@dataclass
class Saved:
    outcome: files.Outcome
    file: files.ConfigFile  # as it is on the node after the transaction


def save_on(node: str, rel: str, text: str, expected: str, actor: str) -> Saved:
    """The node's config transaction. Raises StaleEdit (someone saved it
    there since) or NotAnswered."""
    data = _ask(node, "config_save", {"path": rel, "text": text, "expected": expected}, actor)
    if "stale" in data:
        stale = data["stale"]
        raise files.StaleEdit(rel, stale["current"], stale["attempted"])
    return Saved(files.Outcome(**data["outcome"]), _file(data["file"]))
