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


def filter_name(name: str) -> str:
    """A filter.d name (what a new filter's NAME.local is called)."""
    if not isinstance(name, str) or not _JAIL_NAME.fullmatch(name.strip()):
        raise InvalidInput(f"{str(name)[:70]!r} is not a valid filter name (letters, digits, "
                           "'_', '.', '@', '+', '-'; at most 64 characters)")
    return name.strip()


def ip_address(value: str) -> str:
    """Return the canonical text of one IPv4/IPv6 address, or raise InvalidInput."""
    text = str(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidInput(f"{text!r} is not a valid IPv4 or IPv6 address") from None


def ip_or_network(value: str) -> str:
    """An address or a CIDR network, as fail2ban's ignore list takes them."""
    text = str(value).strip()
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidInput(f"{text!r} is not a valid IP address or CIDR network") from None


# A host name as fail2ban's ignore list takes it (it resolves it when it
# checks a failure): RFC 1123 labels, not all-numeric at the end (so
# "192.0.2" is no name).
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def host_name(value: str) -> str:
    """A DNS host name, lower-cased, without a trailing dot; else InvalidInput."""
    text = str(value).strip().lower().removesuffix(".")
    labels = text.split(".")
    if (not text or len(text) > 253 or not all(_HOST_LABEL.fullmatch(lb) for lb in labels)
            or labels[-1].isdigit()):
        raise InvalidInput(f"{str(value)[:70]!r} is not a valid host name")
    return text


def ignore_value(value: str) -> str:
    """What an ignore list takes: an address, a CIDR network (as
    :func:`ip_or_network`) or a host name (:func:`host_name`)."""
    try:
        return ip_or_network(value)
    except InvalidInput:
        pass
    try:
        return host_name(value)
    except InvalidInput:
        raise InvalidInput(f"{str(value).strip()[:70]!r} is not a valid IP address, CIDR "
                           "network or host name") from None


# -- what a ban may name: an address or a network -----------------------------
# fail2ban's ``banip`` takes a CIDR network (its IPAddr keeps the prefix;
# the ban action gets "203.0.113.0/24" as <ip>, which iptables, nftables and
# ipset take as is). BanGUI refuses networks wider than these prefixes: a
# /8 or a /0 (which fail2ban lists as "0.0.0.0") is a mistake, not a ban
# (docs/archive.md, "Network and permanent bans").
WIDEST_PREFIX = {4: 16, 6: 32}


def ban_target(value: str) -> str:
    """The canonical text of one address or network to ban: an address as
    :func:`ip_address`, a network as fail2ban lists it ("203.0.113.0/24",
    host bits cleared; a /32 or /128 is its address). A network wider than
    :data:`WIDEST_PREFIX` is refused."""
    text = str(value).strip()
    if "/" not in text:
        return ip_address(text)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a valid IPv4 or IPv6 address or network") from None
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    widest = WIDEST_PREFIX[network.version]
    if network.prefixlen < widest:
        raise InvalidInput(
            f"{network} is too wide to ban: BanGUI bans IPv{network.version} networks of "
            f"/{widest} or narrower")
    return str(network)


def ban_targets(values: Iterable[str]) -> list[str]:
    """Many addresses or networks (:func:`ban_target`); every bad one is named."""
    good: list[str] = []
    bad: list[str] = []
    seen: set[str] = set()
    for value in values:
        try:
            target = ban_target(value)
        except InvalidInput as exc:
            bad.append(str(exc))
            continue
        if target not in seen:
            seen.add(target)
            good.append(target)
    if bad:
        raise InvalidInput("; ".join(bad[:5]) + (" …" if len(bad) > 5 else "")
                           + "; nothing was sent")
    if not good:
        raise InvalidInput("no IP address given")
    return good


def is_network(target: str) -> bool:
    """Whether a ban target (:func:`ban_target`'s text) is a network."""
    return "/" in str(target)


def containing_networks(ip: str) -> list[str]:
    """The networks BanGUI may have banned that hold the address ``ip``:
    its /16../31 (IPv4) or /32../127 (IPv6), as :func:`ban_target` writes
    them, narrowest first. An address page looks these up (one indexed
    query) instead of reading every ban."""
    address = ipaddress.ip_address(ip)
    return [str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
            for prefix in range(address.max_prefixlen - 1, WIDEST_PREFIX[address.version] - 1, -1)]
