"""Fixtures for the blocklists tests (the shared ones are in the top-level conftest)."""

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items):
    """The import into a real fail2ban is fail2ban-facing (marker "fail2ban",
    run against every release of scripts/test.sh's matrix; see
    jails/tests/conftest.py)."""
    here = Path(__file__).parent
    for item in items:
        if item.path == here / "test_import.py":
            item.add_marker(pytest.mark.fail2ban)


@pytest.fixture
def cfg(f2b, settings, tmp_path):
    """The sandbox, for tests that edit its config (provision the blocklist
    jail): BanGUI's backups and lock under a temp dir, no cache between reads."""
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    return f2b
