"""A watched rule's list: addresses and networks, country codes, ASNs.

One entry a line (``#`` starts a comment): ``203.0.113.7``,
``2001:db8::/32``, ``CN`` (an ISO 3166-1 code, as the map and the
dashboard's country filter know them) or ``AS64500``. Countries and ASNs come
from geo: the country the archive stored with the ban (the sync resolves it),
else what geo's cache and the local database say of the address; ASNs from
geo only (the archive stores none). Both are read with
``lookup_cached_only``: the minute's look never asks a remote resolver.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from geo.countries import COUNTRY_NAMES
from geo.service import get_cache

ASN = re.compile(r"^AS(\d{1,10})$", re.IGNORECASE)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Watchlist:
    networks: tuple[Network, ...] = ()
    countries: frozenset[str] = frozenset()
    asns: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.networks or self.countries or self.asns)

    @property
    def needs_geo(self) -> bool:
        return bool(self.countries or self.asns)


def parse(text: str) -> Watchlist:
    """The rule's list; ValueError names the first bad line."""
    networks, countries, asns = [], set(), set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if (asn := ASN.match(line)) is not None:
            asns.add(int(asn.group(1)))
        elif len(line) == 2 and line.isalpha():
            if line.upper() not in COUNTRY_NAMES:
                raise ValueError(f"{line!r} is not a country code (ISO 3166-1, e.g. CN)")
            countries.add(line.upper())
        else:
            try:
                networks.append(ipaddress.ip_network(line, strict=False))
            except ValueError:
                raise ValueError(f"{line!r} is not an address, a network, a country code "
                                 "or an ASN (AS64500)") from None
    return Watchlist(tuple(networks), frozenset(countries), frozenset(asns))


def _address(ip: str) -> str:
    """Geo knows addresses: a banned network is looked up by its first."""
    return ip.split("/", 1)[0]


def matches(watch: Watchlist, rows: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """{ip: why} for each (ip, archived country) the list watches; why is
    "" for an address or network, else the country or the ASN."""
    rows = list(rows)
    geo = (get_cache().lookup_cached_only({_address(ip) for ip, _ in rows})
           if watch.needs_geo else {})
    found = {}
    for ip, archived_country in rows:
        try:
            address = ipaddress.ip_network(ip, strict=False)
        except ValueError:
            continue
        if any(address.version == net.version and address.subnet_of(net)
               for net in watch.networks):
            found[ip] = ""
            continue
        result = geo.get(_address(ip))
        country = archived_country or (result.country_code if result else None)
        if country and country.upper() in watch.countries:
            found[ip] = country.upper()
        elif result is not None and result.asn in watch.asns:
            found[ip] = f"AS{result.asn}"
    return found
