"""Fixtures for the jails tests (the shared ones are in the top-level conftest)."""

from pathlib import Path

import pytest

from jails.fail2ban.testing import Sandbox, SandboxJail


@pytest.fixture
def cfg(f2b, settings, tmp_path):
    """The sandbox, for tests that edit its config: BanGUI's backups and lock
    under a temp dir, and no cache between reads."""
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    return f2b


@pytest.fixture
def f2b_without_db(tmp_path_factory, settings):
    """A real fail2ban-server of its own that keeps no database
    (``dbfile = :memory:``, set in fail2ban.d as an admin would), one sshd
    jail, BanGUI pointed at it. Starts in ~0.3 s."""
    sandbox = Sandbox(Path(tmp_path_factory.mktemp("f2b-nodb")),
                      jails=(SandboxJail("sshd", "sshd", "auth.log"),))
    sandbox.write_config()
    (sandbox.confdir / "fail2ban.d" / "no-db.local").write_text(
        "[Definition]\ndbfile = :memory:\n")
    sandbox.start()
    settings.FAIL2BAN_SOCKET = str(sandbox.socket)
    settings.FAIL2BAN_CONFIG_DIR = str(sandbox.confdir)
    yield sandbox
    sandbox.stop()


def snapshot(confdir):
    """Every file under ``confdir`` with its bytes, to prove nothing changed."""
    return {str(p.relative_to(confdir)): p.read_bytes()
            for p in sorted(confdir.rglob("*")) if p.is_file()}
