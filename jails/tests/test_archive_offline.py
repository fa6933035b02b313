"""Archive sync, purge and health on fail2ban-format databases built inline."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jails.archive import sync as archive
from jails.models import BanEvent, SyncState
from jails.tests import fail2ban_db
from jails.tests.fail2ban_db import ban_data

pytestmark = pytest.mark.django_db

T0 = 1_790_000_000  # 2026-09-21, an arbitrary fixed timeofban


@pytest.fixture
def db(tmp_path):
    return fail2ban_db.create(tmp_path / "fail2ban.sqlite3")


def _keys():
    return sorted(BanEvent.objects.values_list("jail", "ip", "banned_at"))


def test_it_never_writes_to_fail2bans_database(db):
    fail2ban_db.add_bans(db, [("sshd", "192.0.2.1", T0, 600, 1, ban_data())])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    os.chmod(db, 0o444)

    archive.sync(str(db))

    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert BanEvent.objects.count() == 1


def test_it_classifies_origins_and_keeps_bounded_matches(db):
    long_line = "x" * 5000
    fail2ban_db.add_bans(db, [
        ("sshd", "192.0.2.1", T0, 600, 2,
         ban_data(3, [["", "Nov 23 14:28:45", " sshd: Failed for root"], "second line"])),
        ("sshd", "192.0.2.2", T0, -1, 1, ban_data(0)),
        ("blocklist-import", "192.0.2.3", T0, 86400, 1, ban_data(0)),
        ("sshd", "192.0.2.4", T0 + 1, 600, 1, ban_data(12, [long_line] * 12)),
    ])

    archive.sync(str(db))

    by_ip = {e.ip: e for e in BanEvent.objects.all()}
    assert by_ip["192.0.2.1"].origin == "detected"
    assert by_ip["192.0.2.1"].match_lines == ["Nov 23 14:28:45 sshd: Failed for root",
                                              "second line"]
    assert by_ip["192.0.2.1"].ban_count == 2
    assert by_ip["192.0.2.1"].banned_at == datetime.fromtimestamp(T0, UTC)
    assert by_ip["192.0.2.2"].origin == "manual"
    assert by_ip["192.0.2.2"].permanent
    assert by_ip["192.0.2.3"].origin == "blocklist"
    big = by_ip["192.0.2.4"]
    assert len(big.matches.encode()) <= 4096
    assert all(len(line.encode()) <= 1024 + 3 for line in big.match_lines)


def test_it_ignores_rows_it_cannot_store_and_carries_on(db):
    fail2ban_db.add_bans(db, [
        ("sshd", None, T0, 600, 1, ban_data()),
        ("sshd", "x" * 60, T0, 600, 1, b"not json"),
        ("sshd", "192.0.2.9", T0, 600, 1, b"not json"),
    ])

    result = archive.sync(str(db))

    assert (result.read, result.inserted, result.invalid) == (3, 1, 2)
    assert BanEvent.objects.get().failures == 0


def test_it_does_not_skip_rows_that_share_a_timeofban_across_batches(db):
    fail2ban_db.add_bans(db, [("sshd", f"192.0.2.{n}", T0, 600, 1, ban_data())
                              for n in range(1, 8)])

    archive.sync(str(db), batch_size=3)
    assert BanEvent.objects.count() == 7
    # A late row with an older timeofban (its failure happened before the
    # rows already copied, fail2ban wrote it later) is still picked up.
    fail2ban_db.add_bans(db, [("nginx-http-auth", "192.0.2.50", T0 - 30, 600, 1, ban_data())])
    assert archive.sync(str(db), batch_size=3).inserted == 1
    assert BanEvent.objects.count() == 8


def test_it_backfills_everything_then_reads_only_new_rows(db):
    fail2ban_db.add_bans(db, [("sshd", f"192.0.2.{n}", T0 + n, 600, 1, ban_data())
                              for n in range(1, 11)])
    first = archive.sync(str(db), batch_size=4)
    fail2ban_db.add_bans(db, [("sshd", "192.0.2.200", T0 + 100, 600, 1, ban_data())])

    second = archive.sync(str(db), batch_size=4)

    assert (first.read, first.inserted) == (10, 10)
    assert (second.read, second.inserted) == (1, 1)
    assert SyncState.objects.get().last_rowid == 11


def test_it_rereads_recent_rows_when_the_cursor_row_was_deleted(db):
    fail2ban_db.add_bans(db, [("sshd", "192.0.2.1", T0, 600, 1, ban_data()),
                              ("sshd", "192.0.2.2", T0 + 1, 600, 1, ban_data())])
    archive.sync(str(db))
    fail2ban_db.delete_bans(db, "sshd", "192.0.2.2")  # a manual unban
    fail2ban_db.add_bans(db, [("sshd", "192.0.2.3", T0 + 2, 600, 1, ban_data())])  # rowid 2 again

    result = archive.sync(str(db))

    assert result.rewound
    assert [k[1] for k in _keys()] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert not archive.sync(str(db)).rewound


def test_a_full_resync_duplicates_nothing(db):
    fail2ban_db.add_bans(db, [("sshd", f"192.0.2.{n}", T0 + n, 600, 1, ban_data())
                              for n in range(1, 6)])
    archive.sync(str(db))
    keys = _keys()

    result = archive.sync(str(db), full=True, batch_size=2)

    assert (result.read, result.inserted) == (5, 0)
    assert _keys() == keys


def test_it_reports_an_unreadable_database_and_keeps_the_error(tmp_path):
    missing = tmp_path / "nope.sqlite3"
    with pytest.raises(archive.ArchiveError, match="does not exist"):
        archive.sync(str(missing))
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(archive.ArchiveError, match="cannot read"):
        archive.sync(str(garbage))
    assert "cannot read" in SyncState.objects.get(db_path=str(garbage)).last_error


def _event(ip, days_ago, jail="sshd"):
    return BanEvent.objects.create(
        ip=ip, jail=jail, banned_at=timezone.now() - timedelta(days=days_ago), bantime=600)


def test_purge_removes_only_rows_past_the_retention(settings):
    settings.ARCHIVE_RETENTION_DAYS = 30
    _event("192.0.2.1", 400)
    _event("192.0.2.2", 31)
    _event("192.0.2.3", 29)
    _event("192.0.2.4", 0)

    assert archive.purge() == 2
    assert sorted(BanEvent.objects.values_list("ip", flat=True)) == ["192.0.2.3", "192.0.2.4"]
    assert archive.purge(retention_days=1, chunk=1) == 1
    assert list(BanEvent.objects.values_list("ip", flat=True)) == ["192.0.2.4"]


def test_purge_warning_when_fail2ban_forgets_faster_than_the_sync():
    assert archive.purge_warning(86400, 60) is None
    assert "dbpurgeage" in archive.purge_warning(120, 60)
    assert "no ban database" in archive.purge_warning(None, 60)


def test_purge_warning_when_the_last_sync_is_older_than_dbpurgeage():
    now = timezone.now()
    SyncState.objects.create(db_path="/x", last_run_at=now, last_success_at=now - timedelta(days=2))
    assert "last synced 2 days ago" in archive.purge_warning(86400, 60, now=now)
    assert archive.purge_warning(7 * 86400, 60, now=now) is None


def test_purge_warning_when_the_sync_never_succeeded():
    SyncState.objects.create(db_path="/x", last_run_at=timezone.now(),
                             last_error="ArchiveError: cannot read")
    assert "never synced successfully" in archive.purge_warning(86400, 60)


def test_the_sync_bans_command_prints_counts_and_purges(db, settings):
    settings.ARCHIVE_RETENTION_DAYS = 365
    fail2ban_db.add_bans(db, [("sshd", "192.0.2.1", T0, 600, 1, ban_data())])
    _event("192.0.2.99", 1000)
    out = io.StringIO()

    call_command("sync_bans", "--db", str(db), "--purge", "--no-geo", stdout=out)

    text = out.getvalue()
    assert "inserted 1, skipped 0 (read 1)" in text
    assert "purged 1 archived bans" in text


def test_the_sync_bans_command_fails_with_exit_code_1(tmp_path):
    with pytest.raises(CommandError, match=r"sync failed: .*does not exist") as exc:
        call_command("sync_bans", "--db", str(tmp_path / "missing.sqlite3"))
    assert exc.value.returncode == 1
