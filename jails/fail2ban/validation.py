"""Input checks made before anything is sent to fail2ban.

fail2ban accepts garbage (``set sshd banip not-an-ip`` succeeds and lists
``not-an-ip`` as banned), so every IP, network and jail name is checked here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from .errors import InvalidInput

# fail2ban itself allows almost anything; BanGUI allows what real jails use
# and nothing that a command line could read as an option.
_JAIL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}")


def jail_name(name: str) -> str:
    if not isinstance(name, str) or not _JAIL_NAME.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a valid jail name (letters, digits, '_', '.', '@', '+', '-'; "
            "at most 64 characters)"
        )
    return name


def ip_address(value: str) -> str:
    """Return the canonical text of one IPv4/IPv6 address, or raise InvalidInput."""
    text = str(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidInput(f"{text!r} is not a valid IPv4 or IPv6 address") from None


def ip_addresses(values: Iterable[str]) -> list[str]:
    """Validate many addresses at once; name every bad one in the error."""
    good: list[str] = []
    bad: list[str] = []
    seen: set[str] = set()
    for value in values:
        try:
            ip = ip_address(value)
        except InvalidInput:
            bad.append(str(value).strip())
            continue
        if ip not in seen:
            seen.add(ip)
            good.append(ip)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5]) + (" …" if len(bad) > 5 else "")
        raise InvalidInput(f"not a valid IPv4 or IPv6 address: {shown}; nothing was sent")
    if not good:
        raise InvalidInput("no IP address given")
    return good


def ip_or_network(value: str) -> str:
    """An address or a CIDR network, as fail2ban's ignore list takes them."""
    text = str(value).strip()
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidInput(f"{text!r} is not a valid IP address or CIDR network") from None
