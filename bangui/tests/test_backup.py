"""manage.py backup and restore, as real processes on a real SQLite file (WAL):
a round trip of users, archived bans and the audit trail, a backup taken
while another process writes, and every refusal changing nothing."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest

from bangui.tests.conftest import MANAGE, ROOT, Project

# Users, archived bans and audit entries, as JSON on the last line.
STATE = """
import json
from django.contrib.auth.models import User
from accounts.models import AuditEntry
from jails.models import BanEvent
print(json.dumps({
    "users": sorted([u.username, u.email] for u in User.objects.all()),
    "bans": sorted([b.jail, b.ip, b.banned_at.isoformat(), b.bantime]
                   for b in BanEvent.objects.all()),
    "audit": sorted([a.actor_name, a.action, a.target] for a in AuditEntry.objects.all()),
}))
"""

FILL = """
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from accounts.models import AuditEntry
from jails.models import BanEvent
User.objects.create_user("alice", "alice@example.org", "pw-alice-1234567")
bob = User.objects.create_user("bob", "bob@example.org", "pw-bob-1234567")
now = timezone.now().replace(microsecond=0)
for i in range(50):
    BanEvent.objects.create(ip=f"203.0.113.{i}", jail="sshd", banned_at=now - timedelta(hours=i),
                            bantime=600, country_code="US")
AuditEntry.objects.create(actor=bob, actor_name="bob", action="ban", target="203.0.113.1")
AuditEntry.objects.create(actor_name="system", action="sync", target="sshd")
"""

CHANGE = """
from django.contrib.auth.models import User
from accounts.models import AuditEntry
from jails.models import BanEvent
User.objects.filter(username="bob").delete()
User.objects.filter(username="alice").update(email="changed@example.org")
User.objects.create_user("mallory", "m@example.org", "pw-mallory-123456")
BanEvent.objects.filter(ip__endswith=".1").delete()
BanEvent.objects.update(bantime=-1)
AuditEntry.objects.all().delete()
AuditEntry.objects.create(actor_name="mallory", action="unban", target="203.0.113.9")
"""


@pytest.fixture
def installation(tmp_path):
    proj = Project(tmp_path / "data", None)
    proj.data_dir.mkdir()
    done = proj.run("migrate", "--noinput", "-v0", timeout=180)
    assert done.returncode == 0, done.stderr
    yield proj
    proj.close()


def _shell(proj: Project, code: str) -> str:
    done = proj.run("shell", "-c", code)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _state(proj: Project) -> dict:
    return json.loads(_shell(proj, STATE).strip().splitlines()[-1])


def _database(proj: Project) -> Path:
    return proj.data_dir / "bangui.sqlite3"


def _fingerprint(proj: Project) -> tuple[str, list[str]]:
    """The database's bytes and every file in the data dir (recursively)."""
    files = sorted(str(p.relative_to(proj.data_dir)) for p in proj.data_dir.rglob("*"))
    return hashlib.sha256(_database(proj).read_bytes()).hexdigest(), files


def _backup(proj: Project, *args: str) -> Path:
    done = proj.run("backup", *args)
    assert done.returncode == 0, done.stderr
    found = re.search(r"^backup: (\S+) \(([\d,]+) bytes, integrity ok\)$", done.stdout, re.M)
    assert found, done.stdout
    path = Path(found.group(1))
    assert path.stat().st_size == int(found.group(2).replace(",", ""))
    return path


def test_a_backup_restores_users_bans_and_the_audit_trail(installation):
    _shell(installation, FILL)
    before = _state(installation)
    assert len(before["bans"]) == 50 and len(before["users"]) == 2

    backup = _backup(installation)
    assert backup.parent == installation.data_dir / "backups"
    assert re.fullmatch(r"bangui-\d{8}T\d{12}Z\.sqlite3", backup.name)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # password hashes, sessions
    assert sorted(p.name for p in backup.parent.iterdir()) == [backup.name]  # no temp, no -wal
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)

    _shell(installation, CHANGE)
    changed = _state(installation)
    assert changed != before and ["mallory", "m@example.org"] in changed["users"]

    done = installation.run("restore", str(backup), "--yes")
    assert done.returncode == 0, done.stderr
    assert "restart the web and the worker" in done.stdout
    assert _state(installation) == before
    # The database as it was before the restore was kept, and is a backup too.
    saved = Path(re.search(r"the database as it was before: (\S+)", done.stdout).group(1))
    assert saved.parent == backup.parent and saved.name.startswith("bangui-before-restore-")
    done = installation.run("restore", str(saved), "--yes")
    assert done.returncode == 0, done.stderr
    assert _state(installation) == changed
    # Still a WAL database, as settings.py asks for.
    with sqlite3.connect(_database(installation)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_restore_under_a_process_that_has_the_database_open(installation):
    """What the web and the worker do until they are restarted: a connection
    that stays open, with its own writes still in the -wal file. It sees the
    restored rows afterwards, and the file is sound (an os.replace of the
    file would have left it the old -wal)."""
    _shell(installation, FILL)
    before = _state(installation)
    backup = _backup(installation)
    _shell(installation, CHANGE)
    live = sqlite3.connect(_database(installation))
    try:
        live.execute("INSERT INTO accounts_auditentry (created_at, actor_name, action, target, "
                     "result, detail, node, ref) VALUES ('2026-01-01', 'web', 'open', '', 'ok', "
                     "'', '', '')")
        live.commit()
        assert Path(f"{_database(installation)}-wal").stat().st_size > 0

        done = installation.run("restore", str(backup), "--yes")
        assert done.returncode == 0, done.stderr

        names = {n for (n,) in live.execute("SELECT actor_name FROM accounts_auditentry")}
        assert names == {"bob", "system"}
        assert live.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        live.close()
    assert _state(installation) == before


def test_a_backup_taken_while_another_process_writes_is_consistent(installation, tmp_path):
    """A writer commits a row at a time (WAL) until told to stop; the backup
    runs meanwhile and holds a whole, checked snapshot."""
    stop = tmp_path / "stop"
    writer_code = f"""
import pathlib
from accounts.models import AuditEntry
n = 0
while not pathlib.Path({str(stop)!r}).exists():
    AuditEntry.objects.create(actor_name="writer", action="tick", target=str(n))
    n += 1
    if n == 20:
        pathlib.Path({str(tmp_path / "started")!r}).touch()
print(n)
"""
    writer = subprocess.Popen([*MANAGE, "shell", "-c", writer_code], cwd=ROOT,
                              env=installation.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        while not (tmp_path / "started").exists():
            assert writer.poll() is None, writer.communicate()
            time.sleep(0.05)
        backup = _backup(installation, str(tmp_path / "online.sqlite3"))
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    written = int(out.strip().splitlines()[-1])
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as conn:
        ticks = [int(t) for (t,) in conn.execute(
            "SELECT target FROM accounts_auditentry WHERE action = 'tick'")]
    # Every row up to some moment, none missing in between.
    assert 20 <= len(ticks) <= written
    assert sorted(ticks) == list(range(len(ticks)))


def test_the_backup_path_may_be_a_directory_and_an_existing_file_is_never_overwritten(
    installation, tmp_path
):
    folder = tmp_path / "offsite"
    folder.mkdir()
    backup = _backup(installation, str(folder))
    assert backup.parent == folder
    content = backup.read_bytes()
    done = installation.run("backup", str(backup))
    assert done.returncode == 1
    assert "exists" in done.stderr
    assert backup.read_bytes() == content


def _refused(proj: Project, *args: str) -> str:
    """Run restore, expect a refusal that changed nothing; return stderr."""
    before = _fingerprint(proj)
    done = proj.run("restore", *args)
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    assert _fingerprint(proj) == before
    return done.stderr


def test_restore_refuses_bad_input_and_changes_nothing(installation, tmp_path):
    _shell(installation, FILL)
    state = _state(installation)

    assert "no such file" in _refused(installation, str(tmp_path / "missing.sqlite3"), "--yes")

    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    assert "is not a SQLite database" in _refused(installation, str(text), "--yes")

    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    assert "not BanGUI's (it has no django_migrations table)" in _refused(
        installation, str(other), "--yes")

    django_only = tmp_path / "django.sqlite3"
    with sqlite3.connect(django_only) as conn:
        conn.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, "
                     "name TEXT, applied TEXT)")
        conn.execute("INSERT INTO django_migrations (app, name, applied) "
                     "VALUES ('auth', '0001_initial', '2026-01-01')")
    assert "not BanGUI's (no migrations of accounts, jails)" in _refused(
        installation, str(django_only), "--yes")

    damaged = tmp_path / "damaged.sqlite3"
    good = _backup(installation, str(tmp_path / "good.sqlite3"))
    data = bytearray(good.read_bytes())
    data[len(data) // 2: len(data) // 2 + 8192] = b"\xff" * 8192
    damaged.write_bytes(bytes(data))
    assert re.search(r"is (damaged|not a usable SQLite database)",
                     _refused(installation, str(damaged), "--yes"))

    # No --yes and no terminal to ask on.
    assert "not confirmed" in _refused(installation, str(good))

    assert _state(installation) == state
    assert not (installation.data_dir / "backups").exists()  # no safety copy either


def test_restore_refuses_a_backup_from_a_newer_bangui(installation, tmp_path):
    backup = _backup(installation, str(tmp_path / "future.sqlite3"))
    with sqlite3.connect(backup) as conn:
        conn.execute("INSERT INTO django_migrations (app, name, applied) "
                     "VALUES ('jails', '9999_from_the_future', '2030-01-01')")
    error = _refused(installation, str(backup), "--yes")
    assert "comes from a newer BanGUI" in error
    assert "jails.9999_from_the_future" in error


def test_restore_of_an_older_backup_says_to_migrate(installation, tmp_path):
    backup = _backup(installation, str(tmp_path / "old.sqlite3"))
    with sqlite3.connect(backup) as conn:
        last = conn.execute("SELECT name FROM django_migrations WHERE app = 'jails' "
                            "ORDER BY name DESC LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM django_migrations WHERE app = 'jails' AND name = ?", (last,))
    done = installation.run("restore", str(backup), "--yes")
    assert done.returncode == 0, done.stderr
    assert "1 migrations behind): run manage.py migrate" in done.stdout


def test_on_postgresql_both_print_the_pg_commands_without_the_password(tmp_path):
    proj = Project(tmp_path, "postgres://bangui:s3cret-pw@db.example.org:5433/bangui_prod")
    for command, expected in (("backup", "pg_dump --format=custom"),
                              ("restore", "pg_restore --clean --if-exists --no-owner")):
        done = proj.run(command, *(["x.dump"] if command == "restore" else []))
        assert done.returncode == 1, done.stdout
        assert expected in done.stderr
        assert ("--host=db.example.org --port=5433 --username=bangui "
                "--dbname=bangui_prod") in done.stderr
        assert "s3cret-pw" not in done.stderr + done.stdout
        assert "Traceback" not in done.stderr
