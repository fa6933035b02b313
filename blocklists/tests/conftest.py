"""Fixtures for the blocklists tests (the shared ones are in the top-level conftest)."""

import pytest


@pytest.fixture
def cfg(f2b, settings, tmp_path):
    """The sandbox, for tests that edit its config (provision the blocklist
    jail): BanGUI's backups and lock under a temp dir, no cache between reads."""
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    return f2b
