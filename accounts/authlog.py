"""The failed-login log line fail2ban watches.

Format (one line per failed attempt, in UTC with its offset written out)::

    2026-11-23T14:03:06+00:00 bangui[auth]: failed login for user 'x' from 203.0.113.7

Why UTC with an offset: the line is written in BanGUI's process and read in
fail2ban's, and the two need not share a time zone (BanGUI in a UTC
container beside fail2ban on a UTC+1 host). A local time without a zone is
read in fail2ban's zone: an hour off, and the line looks too old to count,
so the jail never bans. With the offset in the line (and ``logtimezone =
UTC`` in the shipped jail for good measure) both sides agree whatever their
zones are.

The filter ``contrib/fail2ban/filter.d/bangui-auth.conf`` matches it. The
username is attacker-controlled, so it is escaped (no quotes, backslashes,
control or non-ASCII characters survive) and shortened: a crafted username
cannot forge a second line or put another address at the end of this one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

LOGGER_NAME = "bangui.auth"
LINE_FORMAT = "%(asctime)s bangui[auth]: %(message)s"
MAX_USERNAME = 64

logger = logging.getLogger(LOGGER_NAME)


def format_time(created: float) -> str:
    """``2026-11-23T14:03:06+00:00``: seconds, UTC, the offset spelled out."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds")


class AuthLogFormatter(logging.Formatter):
    """The auth log's line format, with times in UTC whatever the process's
    zone (settings.LOGGING's "auth" formatter)."""

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return format_time(record.created)


def escape_username(username: object) -> str:
    text = str(username or "")[:MAX_USERNAME]
    out = []
    for ch in text:
        if ch.isascii() and ch.isprintable() and ch not in "'\\":
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
    return "".join(out)


def log_failed_login(username: object, ip: str | None) -> None:
    if not ip:
        return  # nothing fail2ban could ban
    logger.warning("failed login for user '%s' from %s", escape_username(username), ip)


def log_refused_sso(username: object, ip: str | None) -> None:
    """A single sign-on the IdP accepted and BanGUI refused (no mapped group,
    a disabled user). Logged, but not in the filter's words: the IdP already
    checked the password and throttles its own logins, so fail2ban should
    not ban a colleague whose group is missing. A wrong TOTP code is a
    "failed login" line (accounts/mfa.py)."""
    logger.warning("refused single sign-on for user '%s' from %s",
                   escape_username(username), ip or "unknown")
