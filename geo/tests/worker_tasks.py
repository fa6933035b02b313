"""A task body for tests that run a real worker (``manage.py qcluster``):
django-q2 imports it by its dotted path in the worker process."""

from __future__ import annotations

from geo.service import get_cache


def resolve(ips: list[str]) -> dict[str, str | None]:
    """Look ``ips`` up as the worker's own tasks do (archive sync, imports):
    through the process's GeoCache, remote fallback allowed if configured."""
    return {ip: result.country_code for ip, result in get_cache().lookup_batch(ips).items()}
