from __future__ import annotations

from django.db import models

from geo.result import SOURCES, GeoResult


class GeoCacheEntry(models.Model):
    """The stored answer for one address, shared by every process.

    Written by the background worker and the commands (``GeoCache``: new
    answers as they are resolved, ``last_seen`` touches once a minute);
    page views only read it. ``last_seen`` is when the address last showed up in a ban
    (cleanup deletes long-unseen rows); ``resolved_at`` is when a resolver
    last tried it (re-resolve retries old and unresolved rows).
    """

    ip = models.GenericIPAddressField(unique=True)
    # NULL, not "", means "no answer": re-resolve selects on it and the
    # GeoResult it becomes has None there.
    country_code = models.CharField(max_length=2, null=True, blank=True)  # noqa: DJ001
    country_name = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    asn = models.PositiveBigIntegerField(null=True, blank=True)
    org = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    source = models.CharField(max_length=8, choices=[(s, s) for s in SOURCES])
    resolved_at = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "geo_cache"
        verbose_name = "geo cache entry"
        verbose_name_plural = "geo cache entries"

    def __str__(self) -> str:
        return f"{self.ip} {self.country_code or '--'}"

    def to_result(self) -> GeoResult:
        return GeoResult(
            self.ip, self.country_code, self.country_name, self.asn, self.org, self.source
        )
