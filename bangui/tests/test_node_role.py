"""A node's PostgreSQL role (nodes/role.py): every node task works with
it, and it is refused users, sessions, settings and the audit trail. Real
processes on a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from bangui.tests.conftest import wait_for_text
from conftest import wait_for
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox, SandboxJail
from jails.tests import fail2ban_db

REFUSED = ("auth_user", "django_session", "accounts_runtimesettings", "accounts_auditentry",
           "axes_accessattempt")
HISTORY = 60_000  # past bans in a node's fail2ban database when it joins


@contextlib.contextmanager
def node_role(project):
    """A login role granted what ``node_role --apply`` grants; yields its
    DATABASE_URL (the project's, with the role as user). Dropped after."""
    if "DATABASE_URL" not in project.env:
        pytest.skip("node roles are for PostgreSQL")
    psycopg = pytest.importorskip("psycopg")
    owner_url = project.env["DATABASE_URL"]
    role = f"bangui_node_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        granted = project.run("node_role", role, "--apply")
        assert granted.returncode == 0, granted.stderr
        assert f"GRANT SELECT, INSERT, UPDATE ON TABLE \"bangui_node\" TO {role};" in (
            granted.stdout)
        node_url = owner_url.replace("postgres://postgres@", f"postgres://{role}@", 1)
        assert node_url != owner_url
        yield node_url
    finally:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_node_role_runs_node_tasks_and_reads_no_users(project):
    psycopg = pytest.importorskip("psycopg")
    with node_role(project) as node_url:
        root = Path(tempfile.mkdtemp(prefix="bgr-"))
        box = Sandbox(root, jails=(SandboxJail("sshd", "sshd", "auth.log"),))
        box.start()
        env = {"DATABASE_URL": node_url, "BANGUI_NODE": "n1",
               "BANGUI_FAIL2BAN_SOCKET": str(box.socket)}
        try:
            worker, log = project.start("qcluster", log="n1.log", env=env)
            wait_for_text(log, "running.")  # lease, facts and schedules written as the role
            # A command routed to it (sent by the owner, run by the node's role).
            sent = project.run("f2b", "--node", "n1", "ban", "sshd", "192.0.2.50")
            assert sent.returncode == 0, sent.stderr + log.read_text()
            assert sent.stdout.strip() == "n1: Banned 192.0.2.50 in sshd."
            # fail2ban's own bans reach the archive through the sync, as the role.
            box.write_failures("sshd", "192.0.2.51", 3)
            Fail2banClient(str(box.socket))  # (it bans within a second or two)
            synced = project.run("sync_bans", env=env)
            assert synced.returncode == 0, synced.stderr
            listed = json.loads(project.run("nodes", "--json").stdout)
            assert [(n["name"], n["up"], n["fail2ban_up"]) for n in listed] == [
                ("n1", True, True)]

            with psycopg.connect(node_url, autocommit=True) as conn:
                assert conn.execute("SELECT count(*) FROM jails_banevent WHERE node = 'n1'"
                                    ).fetchone()[0] >= 1
                # Its tick published its live bans (jails/fleet/live.py), as the role.
                assert wait_for(lambda: conn.execute(
                    "SELECT count(*) FROM jails_liveban l JOIN jails_livebanstate s "
                    "ON s.node = l.node WHERE l.node = 'n1' AND l.ip = '192.0.2.50' AND s.known"
                ).fetchone()[0] == 1, timeout=20, interval=0.2), log.read_text()
                for table in REFUSED:
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0
        finally:
            box.stop()
            shutil.rmtree(root, ignore_errors=True)


def _archive_schema(conn) -> tuple[list, list]:
    """The archive table's index and trigger names."""
    indexes = [r[0] for r in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'jails_banevent' ORDER BY 1")]
    triggers = [r[0] for r in conn.execute(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relname = 'jails_banevent' AND NOT t.tgisinternal ORDER BY 1")]
    return indexes, triggers


def test_a_node_role_archives_a_long_history_into_an_empty_archive(project, tmp_path):
    """A node whose fail2ban already holds 60,000 past bans joins an empty
    archive: its role may not change the archive's indexes or triggers
    (only their owner may), and need not: the sync copies every ban and
    the triggers count each in the daily rollup."""
    psycopg = pytest.importorskip("psycopg")
    jails = ("sshd", "nginx-http-auth", "postfix", "recidive")
    path = fail2ban_db.create(tmp_path / "fail2ban.sqlite3", jails)
    newest = int(time.time()) - 60
    fail2ban_db.add_bans(path, (
        (jails[i % len(jails)], f"198.{18 + i // 65536}.{i // 256 % 256}.{i % 256}",
         newest - (HISTORY - i) * 40, 600, 1, fail2ban_db.ban_data())
        for i in range(HISTORY)))  # 40 s apart: four weeks of bans, in rowid order
    with node_role(project) as node_url, psycopg.connect(
            project.env["DATABASE_URL"], autocommit=True) as owner:
        schema = _archive_schema(owner)
        env = {"DATABASE_URL": node_url, "BANGUI_NODE": "n1"}
        # The owner's fast backfill is refused to the role, before it changed anything.
        refused = project.run("sync_bans", "--backfill", "--db", str(path), "--no-geo", env=env)
        assert refused.returncode == 1, refused.stderr
        assert "run --backfill as the database's owner" in refused.stderr, refused.stderr
        assert _archive_schema(owner) == schema
        started = time.monotonic()
        synced = project.run("sync_bans", "--db", str(path), "--no-geo", timeout=600, env=env)
        took = time.monotonic() - started
        assert synced.returncode == 0, synced.stderr
        assert "must be owner" not in synced.stderr
        assert f"inserted {HISTORY}," in synced.stdout, synced.stdout
        print(f"sync_bans of {HISTORY:,} rows as the node role: {took:.1f} s")
        assert owner.execute("SELECT count(*) FROM jails_banevent WHERE node = 'n1'"
                             ).fetchone()[0] == HISTORY
        rolled = dict(owner.execute("SELECT kind, sum(bans) FROM jails_banday GROUP BY kind"))
        assert rolled == {"jail": HISTORY, "country": HISTORY}
        assert _archive_schema(owner) == schema  # no index or trigger dropped or made
