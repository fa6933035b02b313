"""A node's PostgreSQL role (bangui/noderole.py): every node task works with
it, and it is refused users, sessions, settings and the audit trail. Real
processes on a fresh PostgreSQL database."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import uuid
from pathlib import Path

import pytest

from bangui.tests.conftest import wait_for_text
from conftest import wait_for
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox, SandboxJail

REFUSED = ("auth_user", "django_session", "accounts_runtimesettings", "accounts_auditentry",
           "axes_accessattempt")


def test_a_node_role_runs_node_tasks_and_reads_no_users(project):
    if "DATABASE_URL" not in project.env:
        pytest.skip("node roles are for PostgreSQL")
    psycopg = pytest.importorskip("psycopg")
    owner_url = project.env["DATABASE_URL"]
    role = f"bangui_node_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    granted = project.run("node_role", role, "--apply")
    assert granted.returncode == 0, granted.stderr
    assert f"GRANT SELECT, INSERT, UPDATE ON TABLE \"bangui_node\" TO {role};" in granted.stdout
    node_url = owner_url.replace("postgres://postgres@", f"postgres://{role}@", 1)
    assert node_url != owner_url

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
        assert sent.stdout.strip() == "n1: banned 1 new of 1 in sshd"
        # fail2ban's own bans reach the archive through the sync, as the role.
        box.write_failures("sshd", "192.0.2.51", 3)
        Fail2banClient(str(box.socket))  # (it bans within a second or two)
        synced = project.run("sync_bans", env=env)
        assert synced.returncode == 0, synced.stderr
        listed = json.loads(project.run("nodes", "--json").stdout)
        assert [(n["name"], n["up"], n["fail2ban_up"]) for n in listed] == [("n1", True, True)]

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
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE IF EXISTS {role}")
