"""The few ways talking to fail2ban can fail.

Views and commands catch :class:`Fail2banError` and show ``str(exc)``: every
message is written for the person reading it, and says what to check.
"""

from __future__ import annotations


class Fail2banError(Exception):
    """Base class: anything that went wrong between BanGUI and fail2ban."""


class Unreachable(Fail2banError):
    """The socket could not be reached (server down, restarting, wrong path)."""

    def __init__(self, socket_path: str, reason: str):
        self.socket_path = socket_path
        self.reason = reason
        super().__init__(
            f"fail2ban unreachable at {socket_path}: {reason}. "
            "Is fail2ban-server running, and may BanGUI read its socket?"
        )


class Timeout(Fail2banError):
    """fail2ban accepted the connection but did not answer in time."""

    def __init__(self, socket_path: str, seconds: float, command: list[str]):
        self.socket_path = socket_path
        self.command = command
        super().__init__(
            f"fail2ban at {socket_path} did not answer {' '.join(command[:2])!r} "
            f"within {seconds:g} s; it may be busy or hung."
        )


class Starting(Timeout):
    """fail2ban's socket accepted the connection and did not answer in time,
    while fail2ban-server started moments ago (its pid file, written first
    thing at start, is fresh): a start in progress, e.g. a socket-activated
    fail2ban (fail2ban.socket) whose server is still coming up. A
    :class:`Timeout`, so everything that handles one handles this."""

    def __init__(self, socket_path: str, seconds: float, command: list[str],
                 started_ago: float):
        super().__init__(socket_path, seconds, command)
        self.started_ago = started_ago
        Fail2banError.__init__(
            self,
            f"fail2ban at {socket_path} is starting: its server started "
            f"{started_ago:.0f} s ago and has not answered {' '.join(command[:2])!r} "
            f"within {seconds:g} s yet."
        )


class ProtocolError(Fail2banError):
    """The reply was not something fail2ban should ever send."""


class CommandError(Fail2banError):
    """fail2ban answered, and refused the command."""

    def __init__(self, command: list[str], remote_class: str, message: str):
        self.command = command
        self.remote_class = remote_class
        self.message = message
        super().__init__(f"fail2ban refused {' '.join(command)!r}: {message}")


class UnknownJail(CommandError):
    """The command named a jail fail2ban does not run."""

    def __init__(self, command: list[str], remote_class: str, jail: str):
        self.jail = jail
        super().__init__(command, remote_class, f"no jail named {jail!r} is running")


class InvalidInput(Fail2banError, ValueError):
    """Input refused by BanGUI before anything was sent to fail2ban."""
