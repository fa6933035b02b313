"""Django's cache: files in the data directory, shared by the host's
processes, apart per database, and never a reason for a failed request."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

ROOT = Path(__file__).resolve().parents[2]


def _in_a_process(data_dir: Path, code: str, database_url: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BANGUI_CACHE_DIR")}
    env.update(DJANGO_SETTINGS_MODULE="bangui.settings", BANGUI_DATA_DIR=str(data_dir))
    if database_url:
        env["DATABASE_URL"] = database_url
    out = subprocess.run([sys.executable, "-c", "import django; django.setup(); "
                          "from django.core.cache import cache; " + code],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_hosts_processes_share_it_and_another_database_does_not(tmp_path):
    _in_a_process(tmp_path, "cache.set('figure', 42, 60)")
    assert _in_a_process(tmp_path, "print(cache.get('figure'))") == "42"  # another process
    assert (tmp_path / "cache").is_dir()
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    assert _in_a_process(tmp_path, "print(cache.get('figure'))", other) == "None"


@pytest.fixture
def broken_cache(settings, tmp_path):
    """The cache's directory cannot be made: a file is in its place."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings.CACHES = {"default": {"BACKEND": "bangui.cache.FileCache",
                                   "LOCATION": str(blocker / "cache")}}
    from bangui.cache import FileCache
    FileCache._warned = False
    yield
    FileCache._warned = False


def test_a_cache_it_cannot_write_is_a_miss_and_one_warning(broken_cache, caplog):
    with caplog.at_level(logging.WARNING, logger="bangui.cache"):
        cache.set("figure", 42)
        assert cache.get("figure", "missed") == "missed"
        assert cache.add("claim", 1) is True
        assert cache.delete("figure") is False
        cache.clear()
    warnings = [r.getMessage() for r in caplog.records if r.name == "bangui.cache"]
    assert len(warnings) == 1 and "cannot be used" in warnings[0]


@pytest.mark.django_db
def test_pages_answer_without_a_cache(broken_cache, admin_client):
    """The dashboard's settled days go through the cache (jails.archive.rollup)."""
    from datetime import timedelta

    from django.utils import timezone

    from jails.models import BanEvent

    BanEvent.objects.create(ip="192.0.2.77", jail="sshd", bantime=600,
                            banned_at=timezone.now() - timedelta(days=3))
    page = admin_client.get("/?window=30d")
    assert page.status_code == 200 and b"192.0.2.77" in page.content
