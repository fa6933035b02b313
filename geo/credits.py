"""Which data credits to show: decided from the database files open now.

Every data source BanGUI can read asks for attribution on the pages that use
it, and each asks for its own words. So the credit follows the file actually
in use, not the file BanGUI ships: with GeoLite2 installed the footer credits
MaxMind, not the bundled database. The page footer shows ``current_credits()``
(through the ``credits`` hook on GeoConfig, bangui/context_processors.py), and
docs/geo.md quotes every line below (a test checks that).

A file of a type not listed here (one of ip-location-db's other builds,
say) gets no credit line: whoever configures it owns its attribution.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from django.utils.html import format_html

from geo import mmdb

logger = logging.getLogger(__name__)

CC_BY_4 = ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")
IP_LOCATION_DB = ("ip-location-db", "https://github.com/sapics/ip-location-db")
NRO = ("NRO", "https://www.nro.net/")


@dataclass(frozen=True)
class Credit:
    """One line of attribution: ``template`` with ``{}`` where each link's
    label goes. ``text`` is the plain line; ``str()`` and ``__html__`` give
    the linked one, safe HTML (a template's ``{{ credit }}`` shows links)."""

    key: str
    template: str
    links: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        return self.template.format(*(label for label, _ in self.links))

    def __html__(self) -> str:
        anchors = [format_html('<a href="{}">{}</a>', url, label) for label, url in self.links]
        return format_html(self.template, *anchors)

    def __str__(self) -> str:
        return self.__html__()


# The bundled IP-to-country file (geo/data/NOTICE).
BUNDLED_COUNTRY = Credit("bundled-country", "IP-to-country data: {}, {}, via {}.",
                         (NRO, CC_BY_4, IP_LOCATION_DB))
# The bundled free IP-to-ASN file (geo/data/asn.NOTICE). DB-IP asks for a
# link to db-ip.com with these words on every page that shows its data.
BUNDLED_ASN = Credit("bundled-asn", "Network (AS) data: {}, {} and {}, {}, via {}.",
                     (("RouteViews", "https://www.routeviews.org/"), NRO,
                      ("IP Geolocation by DB-IP", "https://db-ip.com"), CC_BY_4, IP_LOCATION_DB))
# MaxMind's GeoLite2 EULA: these words, with the link.
MAXMIND = Credit("maxmind", "This product includes GeoLite2 data created by MaxMind, "
                 "available from {}.", (("https://www.maxmind.com", "https://www.maxmind.com"),))
# A DB-IP lite file configured by hand (CC BY 4.0, the same link).
DBIP = Credit("dbip", "{}, {}.", (("IP Geolocation by DB-IP", "https://db-ip.com"), CC_BY_4))
# An ipinfo lite file configured by hand (CC BY-SA 4.0).
IPINFO = Credit("ipinfo", "IP address data powered by {}.", (("IPinfo", "https://ipinfo.io"),))

CREDITS = (BUNDLED_COUNTRY, BUNDLED_ASN, MAXMIND, DBIP, IPINFO)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def credit_for(path: Path, database_type: str) -> Credit | None:
    """The credit one open file needs, by what it is; None when BanGUI does
    not know the file (or it needs none: commercial GeoIP2)."""
    return _credit_for(str(path), database_type)


# Per process, by path and type: resolving both paths was ~0.5 ms of every
# page's footer (#29). A file replaced at the same path by another of the
# same type needs the same credit.
@functools.lru_cache(maxsize=32)
def _credit_for(name: str, database_type: str) -> Credit | None:
    path = Path(name)
    if _same_file(path, mmdb.BUNDLED_DB):
        return BUNDLED_COUNTRY
    if _same_file(path, mmdb.BUNDLED_ASN_DB) or database_type == "ip-location-db-ASN":
        return BUNDLED_ASN
    if database_type.startswith("GeoLite2-"):
        return MAXMIND
    if database_type.upper().startswith("DBIP"):
        return DBIP
    if "ipinfo" in database_type.lower():
        return IPINFO
    return None


def credits_for(databases) -> list[Credit]:
    """The credits for ``databases`` (``MmdbResolver.databases()`` values,
    or anything with ``path`` and ``database_type``), each line once, in the
    order given (country file first)."""
    out: list[Credit] = []
    for db in databases:
        credit = credit_for(Path(db.path), db.database_type)
        if credit is not None and credit not in out:
            out.append(credit)
    return out


def current_credits() -> list[Credit]:
    """The credits for the files this process's GeoCache has open now (the
    ``credits`` hook). Never raises: a page footer must not fail on geo."""
    from geo.service import get_cache

    try:
        resolvers = get_cache().resolvers
    except Exception:
        logger.exception("geo: no credits, the geo cache could not be built")
        return []
    databases = [db for r in resolvers if hasattr(r, "databases")
                 for db in r.databases().values()]
    return credits_for(databases)
