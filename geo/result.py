"""What a geo lookup answers, and which addresses never need one."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from geo.countries import country_name

SOURCE_MMDB = "mmdb"
SOURCE_HTTP = "http"
SOURCE_LOCAL = "local"
SOURCE_NONE = "none"
SOURCES = (SOURCE_MMDB, SOURCE_HTTP, SOURCE_LOCAL, SOURCE_NONE)


@dataclass(frozen=True, slots=True)
class GeoResult:
    """The country (and network, where the source knows it) of one address.

    ``source`` says who answered: ``mmdb`` the local database, ``http`` the
    optional web fallback, ``local`` a private/reserved address that has no
    country, ``none`` nobody knew.
    """

    ip: str
    country_code: str | None = None
    country_name: str | None = None
    asn: int | None = None
    org: str | None = None
    source: str = SOURCE_NONE

    @property
    def resolved(self) -> bool:
        return self.country_code is not None


def make_result(
    ip: str, code: str | None, source: str, *, asn: int | None = None, org: str | None = None
) -> GeoResult:
    code = code.upper() if code and code != "None" else None
    return GeoResult(ip, code, country_name(code), asn, org or None, source)


def local_result(ip: str) -> GeoResult:
    return GeoResult(ip, None, None, None, None, SOURCE_LOCAL)


def none_result(ip: str) -> GeoResult:
    return GeoResult(ip, None, None, None, None, SOURCE_NONE)


def parse_ip(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Parse ``raw``; IPv4-mapped IPv6 (``::ffff:1.2.3.4``) becomes the IPv4
    address, so one host has one cache key. Raises ValueError."""
    addr = ipaddress.ip_address(raw.strip())
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


# First octets of every IPv4 range that is not global (RFC 6890 special
# purpose, multicast, reserved). Any other IPv4 address is public, which
# spares the slow ``is_global`` walk for most lookups.
_MAYBE_LOCAL_V4 = frozenset({0, 10, 100, 127, 169, 172, 192, 198, 203, *range(224, 256)})


def _is_local_slow(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not addr.is_global or addr.is_multicast or addr.is_reserved


def is_local(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for addresses that belong to no country: private, loopback,
    link-local, shared (CGNAT), multicast, reserved, unspecified and
    documentation ranges (``is_private`` covers TEST-NET and 2001:db8::/32)."""
    if addr.version == 4 and (int(addr) >> 24) not in _MAYBE_LOCAL_V4:
        return False
    return _is_local_slow(addr)
