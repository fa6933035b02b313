"""Geo background work. Each function is a django-q2 task body and the body
of a ``manage.py geo_*`` command; all are safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from geo.cache import DB_CHUNK, GeoCache
from geo.models import GeoCacheEntry
from geo.service import get_cache

logger = logging.getLogger(__name__)

RERESOLVE_LIMIT = 2000  # addresses per run; the schedule comes back for the rest
RERESOLVE_BATCH = 100


def flush(cache: GeoCache | None = None) -> int:
    """Write the coalesced last_seen touches of cache hits (new answers are
    written as they are resolved)."""
    written = (cache or get_cache()).flush_touches()
    if written:
        logger.info("geo flush: %d rows written", written)
    return written


def cleanup(cache: GeoCache | None = None, *, days: int | None = None) -> int:
    """Delete rows not seen for BANGUI_GEO_RETENTION_DAYS (default 90)."""
    cache = cache or get_cache()
    cache.flush_touches()  # a pending touch may save a row from deletion
    cutoff = timezone.now() - timedelta(days=days or settings.GEO_RETENTION_DAYS)
    deleted = 0
    while True:
        ips = list(GeoCacheEntry.objects.filter(last_seen__lt=cutoff)
                   .values_list("ip", flat=True)[:DB_CHUNK])
        if not ips:
            break
        # Re-check the cutoff in the DELETE itself: a flush in between may
        # have just touched one of these.
        deleted += GeoCacheEntry.objects.filter(ip__in=ips, last_seen__lt=cutoff).delete()[0]
        cache.forget(ips)
    if deleted:
        logger.info("geo cleanup: %d stale rows deleted", deleted)
    return deleted


def reresolve(
    cache: GeoCache | None = None, *, days: int | None = None, limit: int = RERESOLVE_LIMIT
) -> int:
    """Retry rows with no country or resolved more than
    BANGUI_GEO_RERESOLVE_DAYS ago, in batches, oldest attempt first.

    Addresses in the negative cache are skipped. A failed retry leaves the
    stored answer as it was and only moves ``resolved_at`` (the time of the
    last attempt), so the next run gets to other rows first. Returns the
    number of rows that got a (new) answer."""
    cache = cache or get_cache()
    cutoff = timezone.now() - timedelta(days=days or settings.GEO_RERESOLVE_DAYS)
    due = (GeoCacheEntry.objects
           .filter(Q(country_code__isnull=True) | Q(resolved_at__lt=cutoff))
           .order_by("resolved_at")
           .values_list("ip", flat=True))
    ips = [ip for ip in due[: limit * 2] if not cache.is_negative(ip)][:limit]
    improved = 0
    for start in range(0, len(ips), RERESOLVE_BATCH):
        batch = ips[start : start + RERESOLVE_BATCH]
        found = cache.refresh(batch)
        improved += len(found)
        failed = [ip for ip in batch if ip not in found and cache.is_negative(ip)]
        if failed:
            GeoCacheEntry.objects.filter(ip__in=failed).update(resolved_at=timezone.now())
    if ips:
        logger.info("geo re-resolve: %d of %d rows resolved", improved, len(ips))
    return improved
