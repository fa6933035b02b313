"""Fixtures for the jails tests (the shared ones are in the top-level conftest)."""

import pytest


@pytest.fixture
def cfg(f2b, settings, tmp_path):
    """The sandbox, for tests that edit its config: BanGUI's backups and lock
    under a temp dir, and no cache between reads."""
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    return f2b


def snapshot(confdir):
    """Every file under ``confdir`` with its bytes, to prove nothing changed."""
    return {str(p.relative_to(confdir)): p.read_bytes()
            for p in sorted(confdir.rglob("*")) if p.is_file()}
