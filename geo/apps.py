from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import threading
from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from geo.cache import GeoCache

logger = logging.getLogger(__name__)


class GeoConfig(AppConfig):
    name = "geo"
    metrics = "geo.health.metrics"  # found by bangui/health.py
    credits = "geo.credits.current_credits"  # the page footer (bangui/context_processors.py)

    def __init__(self, app_name, app_module) -> None:
        super().__init__(app_name, app_module)
        self._cache: GeoCache | None = None
        self._cache_lock = threading.Lock()

    def ready(self) -> None:
        # Connecting a signal touches neither the database nor the network.
        from django_q.signals import post_spawn

        post_spawn.connect(self._on_worker_spawn, dispatch_uid="geo.worker_spawn")

    def get_cache(self) -> GeoCache:
        """The process's GeoCache, built from settings on first use."""
        if self._cache is None:
            with self._cache_lock:
                if self._cache is None:
                    from geo.service import build_cache

                    self._cache = build_cache()
        return self._cache

    def _on_worker_spawn(self, sender, proc_name: str = "", **kwargs) -> None:
        """In the django-q2 worker process: allow the HTTP fallback (if it is
        configured), hold fewer addresses in memory (WORKER_MAX_ENTRIES) and
        write its pending last_seen touches when it exits.

        django-q2 has no shutdown signal. Its workers are multiprocessing
        children, which leave through os._exit and so skip ``atexit``; they
        do run multiprocessing's own exit finalizers, so the flush is
        registered there (and with atexit, for a worker run in-process)."""
        from django.conf import settings

        from geo.cache import WORKER_MAX_ENTRIES

        cache = self.get_cache()
        cache.allow_remote = settings.GEO_HTTP_FALLBACK
        cache.max_entries = min(cache.max_entries, WORKER_MAX_ENTRIES)
        multiprocessing.util.Finalize(None, _flush_on_exit, args=(cache,), exitpriority=10)
        atexit.register(_flush_on_exit, cache)


def _flush_on_exit(cache: GeoCache) -> None:
    if not cache.stats()["touches"]:
        return
    try:
        written = cache.flush_touches()
        logger.info("geo: flushed %d rows on worker exit", written)
    except Exception:
        logger.exception("geo: flush on worker exit failed")
