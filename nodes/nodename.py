"""Node names and the task queue each node's cluster reads (no Django
imports: bangui/settings.py and the schedule writer use this).

A node is a host running fail2ban plus one BanGUI task cluster
(docs/fleet.md). Its name comes from ``BANGUI_NODE`` (default: the host
name) and is the key of its :class:`nodes.models.Node` row, of its worker
lease, of its schedules and of its django-q2 queue: each node's cluster
reads only ``node-<name>``, so clusters of different nodes run side by side
on one database without taking each other's tasks.
"""

from __future__ import annotations

import re
import socket

NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
QUEUE_PREFIX = "node-"
# Commands (ban, unban, config saves, regex tests: jails/fleet/dispatch.py)
# go to a second queue per node, read by a second one-worker cluster of the
# same node, so they never wait behind a blocklist download or a backfill.
COMMAND_QUEUE_PREFIX = "cmd-"


class BadNodeName(ValueError):
    pass


def clean(name: str) -> str:
    """The name as given, lower-cased; BadNodeName unless it is 1-63 of
    ``a-z 0-9 . -``, starting with a letter or digit."""
    value = name.strip().lower()
    if not NAME.fullmatch(value):
        raise BadNodeName(f"{name!r} is not a node name: use 1 to 63 of a-z, 0-9, '.' and '-', "
                          "starting with a letter or digit")
    return value


def from_host(hostname: str | None = None) -> str:
    """A valid node name made from the host name (the default)."""
    raw = (hostname if hostname is not None else socket.gethostname()).lower()
    value = re.sub(r"[^a-z0-9.-]", "-", raw).lstrip(".-")[:63]
    return value or "localhost"


def queue(node: str) -> str:
    """The django-q2 queue (``cluster=``) of a node's task cluster."""
    return QUEUE_PREFIX + node


def command_queue(node: str) -> str:
    """The django-q2 queue of a node's command lane (see COMMAND_QUEUE_PREFIX)."""
    return COMMAND_QUEUE_PREFIX + node


def local() -> str:
    """This process's node (``BANGUI_NODE``): the default of every row a node
    writes (archive rows, sync cursors). A function, so migrations and
    models read the setting when a row is made, not when they are loaded."""
    from django.conf import settings  # here: the settings import this module

    return settings.BANGUI_NODE
