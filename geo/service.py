"""Where the process's GeoCache lives: ``get_cache()``.

The instance is held by the geo AppConfig (created on first use, never at
import or in ``ready()``), so there is no module-level mutable state here.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings

from geo.cache import GeoCache
from geo.http import IpApiResolver
from geo.mmdb import MmdbResolver, asn_db_path, bundled_asn_path, country_db_path


def build_cache(*, allow_remote: bool = False) -> GeoCache:
    """A GeoCache configured from settings: the local MMDB first, then the
    ip-api fallback when BANGUI_GEO_HTTP_FALLBACK is on (it only runs when
    ``allow_remote`` is set, which the worker does).

    The ASN file: a configured or downloaded GeoLite2-ASN, else the bundled
    free one (no licence key needed), else none."""
    asn_path = asn_db_path() or bundled_asn_path()
    resolvers: list = [MmdbResolver(country_db_path(), asn_path)]
    if settings.GEO_HTTP_FALLBACK:
        resolvers.append(IpApiResolver(settings.GEO_HTTP_URL))
    return GeoCache(resolvers, allow_remote=allow_remote)


def get_cache() -> GeoCache:
    """This process's GeoCache."""
    return apps.get_app_config("geo").get_cache()
