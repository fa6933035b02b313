"""The only package that talks to fail2ban. See ``client.py``."""

from .cli import Fail2banCli
from .client import Fail2banClient
from .errors import (
    CommandError,
    Fail2banError,
    InvalidInput,
    ProtocolError,
    Timeout,
    UnknownJail,
    Unreachable,
)

__all__ = [
    "CommandError",
    "Fail2banCli",
    "Fail2banClient",
    "Fail2banError",
    "InvalidInput",
    "ProtocolError",
    "Timeout",
    "UnknownJail",
    "Unreachable",
]
