"""The server status shown on every page."""

from __future__ import annotations

from dataclasses import dataclass

from jails import link
from jails.fail2ban import Fail2banError
from jails.fail2ban.results import Overview


@dataclass(frozen=True)
class ServerState:
    socket_path: str
    overview: Overview | None
    error: str | None

    @property
    def reachable(self) -> bool:
        return self.overview is not None


def read_state() -> ServerState:
    """Read the overview; a dead fail2ban is a state to show, not an error.
    No connect retries here: a page must not wait for a server that is down."""
    client = link.client(connect_retries=0)
    try:
        return ServerState(client.socket_path, client.overview(), None)
    except Fail2banError as exc:
        return ServerState(client.socket_path, None, str(exc))
