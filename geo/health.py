"""The geo app's part of ``/metrics`` (found through ``GeoConfig.metrics``)."""

from __future__ import annotations

from geo.models import GeoCacheEntry
from geo.service import get_cache


def metrics(out) -> None:
    out.one("bangui_geo_cache_entries", "gauge", "Rows in the geo_cache table.",
            GeoCacheEntry.objects.count())
    counters = get_cache().counters()
    out.family("bangui_geo_lookups_total", "counter",
               "Geo lookups by this web process: answered from memory or geo_cache (hit) "
               "or needing a resolver (miss).")
    out.sample("bangui_geo_lookups_total", counters["hits"], {"result": "hit"})
    out.sample("bangui_geo_lookups_total", counters["misses"], {"result": "miss"})
