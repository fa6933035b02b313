"""The failed-login log line fail2ban watches.

Format (one line per failed attempt, local time of the host, like syslog)::

    2026-11-23 14:03:06 bangui[auth]: failed login for user 'x' from 203.0.113.7

The filter ``contrib/fail2ban/filter.d/bangui-auth.conf`` matches it. The
username is attacker-controlled, so it is escaped (no quotes, backslashes,
control or non-ASCII characters survive) and shortened: a crafted username
cannot forge a second line or put another address at the end of this one.
"""

from __future__ import annotations

import logging

LOGGER_NAME = "bangui.auth"
LINE_FORMAT = "%(asctime)s bangui[auth]: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_USERNAME = 64

logger = logging.getLogger(LOGGER_NAME)


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
