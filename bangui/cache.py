"""Django's file cache (the host's processes share it: bangui/settings.py),
made so that a disk that is full, read-only or gone never fails a request.

The cache only ever holds answers any process can recompute; when it cannot
be read or written, each call behaves as a miss (``get`` gives the default,
``set`` keeps nothing) and the first failure of a process is logged as a
warning, so pages keep working and the operator learns why they are slower."""

from __future__ import annotations

import logging

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache

logger = logging.getLogger(__name__)


class FileCache(FileBasedCache):
    _warned = False

    def __init__(self, dir, params):
        try:
            super().__init__(dir, params)
        except OSError as exc:  # the directory is made again on each set
            self._dir = str(dir)
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        if not FileCache._warned:
            FileCache._warned = True
            logger.warning("the cache in %s cannot be used (%s): every page computes "
                           "its figures afresh until it can", self._dir, exc)

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except OSError as exc:
            self._failed(exc)
            return default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except OSError as exc:
            self._failed(exc)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except OSError as exc:
            # Unknown whether the key is there: as if it was added, so a
            # caller that claims a key (allauth's used code) goes on working.
            self._failed(exc)
            return True

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except OSError as exc:
            self._failed(exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except OSError as exc:
            self._failed(exc)
            return False

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except OSError as exc:
            self._failed(exc)
            return False

    def clear(self):
        try:
            super().clear()
        except OSError as exc:
            self._failed(exc)
