"""``manage.py f2b`` against the real sandboxed fail2ban, as a subprocess,
so exit codes and stderr are what an operator sees."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A migrated SQLite database of its own (the command writes audit and
    archive rows), made once for the module."""
    path = tmp_path_factory.mktemp("f2b-cmd")
    env = {**os.environ, "BANGUI_DATA_DIR": str(path)}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"],
                   env=env, cwd=ROOT, check=True, timeout=120)
    return path


@pytest.fixture
def f2b_cmd(f2b, data_dir):
    env = {
        **os.environ,
        "BANGUI_FAIL2BAN_SOCKET": str(f2b.socket),
        "BANGUI_FAIL2BAN_CONFIG_DIR": str(f2b.confdir),
        "BANGUI_DATA_DIR": str(data_dir),
    }
    env.pop("DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "f2b", *args],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
        )

    return run


def _rows(data_dir, sql):
    con = sqlite3.connect(data_dir / "bangui.sqlite3")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_it_bans_and_unbans_for_real(f2b_cmd, f2b_client):
    result = f2b_cmd("ban", "sshd", "203.0.113.9")
    assert result.returncode == 0, result.stderr
    assert "203.0.113.9" in f2b_client.jail_status("sshd").banned_ips
    result = f2b_cmd("unban", "sshd", "203.0.113.9")
    assert result.returncode == 0, result.stderr
    assert "203.0.113.9" not in f2b_client.jail_status("sshd").banned_ips


def test_it_archives_and_audits_what_it_does(f2b_cmd, data_dir):
    assert f2b_cmd("ban", "sshd", "203.0.113.19").returncode == 0
    assert f2b_cmd("unban", "sshd", "203.0.113.19").returncode == 0
    assert f2b_cmd("ban", "sshd", "bogus").returncode == 2
    events = _rows(data_dir, "select origin, actor, unbanned_by from jails_banevent "
                             "where ip = '203.0.113.19'")
    assert len(events) == 1
    origin, actor, unbanned_by = events[0]
    assert origin == "manual" and actor.startswith("cli:") and unbanned_by == actor
    audit_rows = _rows(data_dir, "select action, target, result from accounts_auditentry "
                                 "order by id desc limit 3")
    # The same actions as the web's (one dispatch audits both); the actor is cli:<user>.
    assert audit_rows[::-1] == [("ban", "sshd 203.0.113.19", "ok"),
                                ("unban", "sshd 203.0.113.19", "ok"),
                                ("ban", "sshd bogus", "failed")]


def test_it_unbans_from_all_jails_without_a_jail(f2b_cmd, f2b_client):
    f2b_client.ban("sshd", ["198.51.100.4"])
    f2b_client.ban("nginx-http-auth", ["198.51.100.4"])
    result = f2b_cmd("unban", "198.51.100.4")
    assert result.returncode == 0, result.stderr
    assert f2b_client.jails_of_ip("198.51.100.4") == []


def test_it_refuses_an_invalid_ip_and_sends_nothing(f2b_cmd, f2b_client):
    result = f2b_cmd("ban", "sshd", "not-an-ip")
    assert result.returncode == 2
    assert "not-an-ip" in result.stderr and "not a valid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f2b_client.jail_status("sshd").banned_ips == []


def test_it_reports_an_unknown_jail(f2b_cmd):
    result = f2b_cmd("ban", "nojail", "203.0.113.9")
    assert result.returncode == 1
    assert "no jail named 'nojail'" in result.stderr


def test_it_prints_status(f2b_cmd, f2b_client):
    f2b_client.ban("sshd", ["192.0.2.77"])
    result = f2b_cmd("status")
    assert result.returncode == 0
    assert "2 jails, 1 banned now" in result.stdout
    result = f2b_cmd("status", "sshd")
    assert "banned: 192.0.2.77" in result.stdout


def test_it_fails_clearly_when_fail2ban_is_down(f2b_cmd, f2b):
    f2b.stop()
    result = f2b_cmd("status")
    assert result.returncode == 1
    assert "fail2ban unreachable at" in result.stderr


def test_it_stops_and_starts_a_jail(f2b_cmd, f2b_client):
    assert f2b_cmd("stop", "nginx-http-auth").returncode == 0
    assert f2b_client.jail_names() == ["sshd"]
    result = f2b_cmd("start", "nginx-http-auth")
    assert result.returncode == 0, result.stderr
    assert sorted(f2b_client.jail_names()) == ["nginx-http-auth", "sshd"]


def test_it_unbans_a_whole_jail_and_edits_its_ignore_list(f2b_cmd, f2b_client):
    f2b_client.ban("sshd", ["203.0.113.20", "203.0.113.21"])
    result = f2b_cmd("unbanall", "sshd")
    assert (result.returncode, result.stdout.strip()) == (0, "Unbanned all 2 IPs from sshd."), (
        result.stderr)
    assert f2b_client.jail_status("sshd").banned_ips == []
    result = f2b_cmd("ignore", "sshd", "198.51.100.0/24")
    assert result.returncode == 0, result.stderr
    assert "198.51.100.0/24" in f2b_client.ignore_list("sshd")
    result = f2b_cmd("ignore", "--remove", "sshd", "198.51.100.0/24")
    assert result.returncode == 0, result.stderr
    assert "198.51.100.0/24" not in f2b_client.ignore_list("sshd")
    bad = f2b_cmd("ignore", "sshd", "not/a/network")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
