"""Where BanGUI finds its fail2ban: clients built from the current settings.

Views, commands and tasks call :func:`client` / :func:`cli` instead of
building clients themselves, so the socket path has one source of truth.
"""

from __future__ import annotations

from django.conf import settings

from accounts.models import RuntimeSettings
from jails.fail2ban import Fail2banCli, Fail2banClient


def socket_path() -> str:
    """The runtime setting (changed on /settings/, read from the database on
    each call: one primary-key lookup), else ``settings.FAIL2BAN_SOCKET``."""
    return RuntimeSettings.load().socket_path


def client(*, connect_retries: int = 2, timeout: float | None = None) -> Fail2banClient:
    """``timeout`` overrides BANGUI_FAIL2BAN_TIMEOUT for slow bulk work in the
    worker (fail2ban answers a big ``banip`` only after running every action)."""
    return Fail2banClient(socket_path(), timeout=timeout or settings.FAIL2BAN_TIMEOUT,
                          connect_retries=connect_retries)


def cli() -> Fail2banCli:
    return Fail2banCli(settings.FAIL2BAN_CONFIG_DIR, socket_path(),
                       binary=settings.FAIL2BAN_CLIENT)
