"""Where BanGUI finds its fail2ban: clients built from the current settings.

Views, commands and tasks call :func:`client` / :func:`cli` instead of
building clients themselves, so the socket path has one source of truth.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from datetime import tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings

from accounts.models import RuntimeSettings
from jails.fail2ban import Fail2banCli, Fail2banClient, Fail2banError
from jails.fail2ban.client import Budget

HOST_ZONE_FILE = "/etc/localtime"


def socket_path() -> str:
    """``BANGUI_FAIL2BAN_SOCKET`` when this host's environment sets it, else
    the runtime setting (changed on /settings/, read from the database: the
    row the request read at its start, or one primary-key lookup per call
    outside a request), else the default path."""
    if settings.FAIL2BAN_SOCKET_FROM_ENV:
        return settings.FAIL2BAN_SOCKET
    return RuntimeSettings.current().socket_path


# The current web request's Budget (jails.middleware): a request learns once
# that fail2ban does not answer. Unset outside requests (tasks, commands).
_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "bangui_fail2ban_budget", default=None)


@contextlib.contextmanager
def request_budget():
    """Share one :class:`Budget` among every client made inside."""
    token = _budget.set(Budget())
    try:
        yield
    finally:
        _budget.reset(token)


def client(*, connect_retries: int = 2, timeout: float | None = None) -> Fail2banClient:
    """``timeout`` overrides BANGUI_FAIL2BAN_TIMEOUT for slow bulk work in the
    worker (fail2ban answers a big ``banip`` only after running every action)."""
    return Fail2banClient(socket_path(), timeout=timeout or settings.FAIL2BAN_TIMEOUT,
                          connect_retries=connect_retries, budget=_budget.get(),
                          server_tz=server_time_zone())


def server_time_zone() -> tzinfo | None:
    """The zone fail2ban prints its text times in: BANGUI_FAIL2BAN_TIME_ZONE,
    else the host's zone (``/etc/localtime``, what a fail2ban-server started
    by systemd uses). Not our process's local zone: Django sets that to
    BANGUI_TIME_ZONE (UTC by default). None: no /etc/localtime either."""
    return _zone(settings.FAIL2BAN_TIME_ZONE)


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> tzinfo | None:
    if name:
        return ZoneInfo(name)
    try:
        with open(HOST_ZONE_FILE, "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError):
        return None


def cli() -> Fail2banCli:
    return Fail2banCli(settings.FAIL2BAN_CONFIG_DIR, socket_path(),
                       binary=settings.FAIL2BAN_CLIENT)


def check_socket(path: str, timeout: float) -> str | None:
    """Why fail2ban does not answer at ``path`` (None: it does). The setup
    wizard's and the settings page's check, offered to accounts as the
    ``socket_check`` hook (jails/apps.py)."""
    try:
        ok = Fail2banClient(path, timeout=timeout, connect_retries=0).ping()
    except Fail2banError as exc:
        return f"No answer from fail2ban: {exc}"
    return None if ok else f"Something answered at {path}, but it is not fail2ban."
