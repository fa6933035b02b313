"""The geo app's part of ``/metrics`` (found through ``GeoConfig.metrics``;
the hook's contract is in bangui/health.py). Read from the database, never
from one process's memory: every gunicorn worker answers the same."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from geo.models import GeoCacheEntry
from geo.result import SOURCES


def metrics() -> Iterator[Metric]:
    by_source = dict(GeoCacheEntry.objects.order_by().values_list("source")
                     .annotate(n=Count("*")))
    yield GaugeMetricFamily("bangui_geo_cache_entries", "Rows in the geo_cache table.",
                            value=sum(by_source.values()))
    family = GaugeMetricFamily(
        "bangui_geo_cache_source_entries",
        "Rows in the geo_cache table by who answered: mmdb (the local database), http "
        "(the web fallback), local (private/reserved address), none (nobody knew).",
        labels=["source"])
    for source in (*SOURCES, *sorted(set(by_source) - set(SOURCES))):
        family.add_metric([source], by_source.get(source, 0))
    yield family
