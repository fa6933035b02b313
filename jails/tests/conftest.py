"""Fixtures for the jails tests (the shared ones are in the top-level conftest)."""

from pathlib import Path

import pytest

from jails.fail2ban.testing import Sandbox, SandboxJail

# The fail2ban-facing tests (marker "fail2ban"): scripts/test.sh runs them
# against each fail2ban release of its matrix too (BANGUI_TEST_FAIL2BAN), not
# only the system's, on SQLite. What talks to fail2ban or reads what it
# wrote: the client, the sandbox, live state, the archive sync, config
# transactions (fail2ban-client -t, reload), the regex tester
# (fail2ban-regex), and commands a node's worker runs against its fail2ban.
FAIL2BAN_FACING = {
    "test_client.py", "test_client_faults.py", "test_sandbox.py", "test_live_state.py",
    "test_archive.py", "test_archive_offline.py", "test_fail2ban_db.py",
    "test_config_files.py", "test_config_paths.py", "test_regex_tester.py",
    "test_fleet_commands.py", "test_dispatch.py",
}
# Of the multi-process fleet tests (~10 s each), only those where a node's
# worker drives its fail2ban; the others test the queue and the web tier,
# which no fail2ban release changes.
FLEET_FAIL2BAN_FACING = {
    "test_a_command_runs_on_its_node_only_and_everywhere_on_all",
    "test_a_ban_fail2ban_makes_on_a_node_reaches_the_archive_with_its_node",
    "test_the_regex_tester_runs_on_a_chosen_node",
    "test_a_nodes_config_files_are_listed_read_and_saved_by_that_node",
    "test_every_action_works_the_same_on_this_hosts_node_and_on_another",
}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if item.path.parent != here or item.path.name not in FAIL2BAN_FACING:
            continue
        if item.path.name in ("test_fleet_commands.py", "test_dispatch.py") \
                and item.originalname not in FLEET_FAIL2BAN_FACING:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("project") == "postgres":
            continue  # the matrix runs on SQLite (PostgreSQL is in the full run)
        item.add_marker(pytest.mark.fail2ban)


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


@pytest.fixture
def history(tmp_path):
    """A fail2ban database file with 12,000 bans of every kind the archive
    sync tells apart (test_sync_fast._history), and those rows."""
    from jails.tests import fail2ban_db
    from jails.tests.test_sync_fast import _history

    path = fail2ban_db.create(tmp_path / "fail2ban.sqlite3")
    rows = _history(12_000)
    fail2ban_db.add_bans(path, rows)
    return path, rows
