"""The server status shown on every page."""

from __future__ import annotations

from dataclasses import dataclass

from bangui.requestmemo import once_per_request
from jails.config import jail as jail_config
from jails.fail2ban import Fail2banError
from jails.fail2ban.errors import Starting
from jails.fail2ban.results import Overview
from jails.fail2ban.versions import untested_warning
from jails.live import link
from nodes.fleet import bar_summary


@dataclass(frozen=True)
class ServerState:
    socket_path: str
    overview: Overview | None
    error: str | None
    stopped: int = 0  # jails the config enables that fail2ban does not run
    starting: bool = False  # accepted, no answer yet, right after a start

    @property
    def reachable(self) -> bool:
        return self.overview is not None

    @property
    def version_warning(self) -> str | None:
        """An untested fail2ban release: warned about, never refused."""
        return untested_warning(self.overview.version) if self.overview else None


def read_state() -> ServerState:
    """Read the overview; a dead fail2ban is a state to show, not an error.
    No connect retries here: a page must not wait for a server that is down.
    Once per request: the dashboard's figures and the status bar share it."""
    return once_per_request("status.read_state", _read_state)


def _read_state() -> ServerState:
    client = link.client(connect_retries=0)
    try:
        overview = client.overview()
    except Fail2banError as exc:
        return ServerState(client.socket_path, None, str(exc),
                           starting=isinstance(exc, Starting))
    running = {j.name for j in overview.jails}
    stopped = sum(1 for j in jail_config.configured_jails().values()
                  if j.enabled and j.name not in running)
    return ServerState(client.socket_path, overview, None, stopped)


def bar_context() -> dict:
    """What the status bar shows: this host's fail2ban, and the fleet's
    "N nodes up, M down" once a second node registers. A web-only host (not
    a node itself) has no fail2ban of its own to speak for: it shows the
    fleet alone, not a red "fail2ban unreachable" on every page."""
    fleet = bar_summary()
    if fleet is not None and not fleet.here:
        return {"state": None, "fleet": fleet}
    return {"state": read_state(), "fleet": fleet}
