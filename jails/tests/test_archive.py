"""The ban archive sync against a real fail2ban (the ``f2b`` sandbox)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from django.utils import timezone

from conftest import wait_for
from jails.archive import sync as archive
from jails.models import BanEvent, SyncState

pytestmark = pytest.mark.django_db


def _banned(client, jail, ip):
    return ip in client.jail_status(jail).banned_ips


def _fail(f2b, jail, ip, count=3):
    f2b.write_failures(jail, ip, count)


def test_it_archives_detected_bans_with_jail_time_and_matches(f2b, f2b_client):
    _fail(f2b, "sshd", "198.51.100.21")
    f2b.write_failures("nginx-http-auth", "198.51.100.22", 3)
    assert wait_for(lambda: _banned(f2b_client, "sshd", "198.51.100.21")
                    and _banned(f2b_client, "nginx-http-auth", "198.51.100.22"))

    result = archive.sync(str(f2b.dbfile))

    assert result.inserted >= 2
    ssh = BanEvent.objects.get(ip="198.51.100.21")
    assert ssh.jail == "sshd"
    assert ssh.origin == "detected"
    assert ssh.failures == 3
    assert ssh.bantime == 3600
    assert abs((timezone.now() - ssh.banned_at).total_seconds()) < 60
    assert len(ssh.match_lines) == 3
    assert all("Failed password for root from 198.51.100.21" in line
               for line in ssh.match_lines)
    assert BanEvent.objects.get(ip="198.51.100.22").jail == "nginx-http-auth"


def test_it_asks_fail2ban_where_its_database_is(f2b, f2b_client):
    f2b_client.ban("sshd", ["203.0.113.30"])
    result = archive.sync()
    assert result.db_path == str(f2b.dbfile.resolve())
    assert BanEvent.objects.filter(ip="203.0.113.30", jail="sshd", origin="manual").exists()


def test_it_adds_nothing_on_a_second_sync(f2b, f2b_client):
    _fail(f2b, "sshd", "198.51.100.23")
    assert wait_for(lambda: _banned(f2b_client, "sshd", "198.51.100.23"))
    archive.sync(str(f2b.dbfile))
    count = BanEvent.objects.count()

    again = archive.sync(str(f2b.dbfile))

    assert again.inserted == 0
    assert BanEvent.objects.count() == count
    state = SyncState.objects.get()
    assert state.last_error == ""
    assert state.last_success_at is not None


def test_it_resumes_after_a_crash_between_batches(f2b, f2b_client, monkeypatch):
    ips = [f"203.0.113.{n}" for n in range(40, 45)]
    for ip in ips:  # one banip each: one bans row each
        f2b_client.ban("sshd", [ip])
    real_store = archive._store_batch
    calls = []

    def crash_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(archive, "_store_batch", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        archive.sync(str(f2b.dbfile), batch_size=2)
    assert BanEvent.objects.filter(ip__in=ips).count() == 2  # the first batch committed
    assert "worker killed" in SyncState.objects.get().last_error

    monkeypatch.setattr(archive, "_store_batch", real_store)
    result = archive.sync(str(f2b.dbfile), batch_size=2)

    assert result.inserted == 3
    assert sorted(BanEvent.objects.filter(ip__in=ips).values_list("ip", flat=True)) == ips
    assert SyncState.objects.get().last_error == ""


def _rows_of(f2b) -> set[str]:
    """The addresses of fail2ban's own bans rows."""
    with closing(sqlite3.connect(f"file:{f2b.dbfile}?mode=ro", uri=True)) as db:
        return {ip for (ip,) in db.execute("SELECT ip FROM bans")}


def test_it_keeps_bans_when_fail2ban_reuses_rowids(f2b, f2b_client):
    # A manual unban deletes the IP's rows; SQLite then hands the freed
    # highest rowid to the next ban. A plain rowid cursor would skip it.
    # fail2ban writes and deletes the rows behind banip and unbanip, in its
    # own thread: each step waits for them.
    f2b_client.ban("sshd", ["203.0.113.50"])
    f2b_client.ban("sshd", ["203.0.113.51"])
    assert wait_for(lambda: _rows_of(f2b) >= {"203.0.113.50", "203.0.113.51"})
    archive.sync(str(f2b.dbfile))
    f2b_client.unban("sshd", ["203.0.113.51"])
    assert wait_for(lambda: "203.0.113.51" not in _rows_of(f2b))
    f2b_client.ban("sshd", ["203.0.113.52"])
    assert wait_for(lambda: "203.0.113.52" in _rows_of(f2b))

    result = archive.sync(str(f2b.dbfile))

    assert result.rewound
    assert BanEvent.objects.filter(ip="203.0.113.52", jail="sshd").count() == 1
    # The unbanned IP's history stays in the archive.
    assert BanEvent.objects.filter(ip="203.0.113.51").count() == 1
    assert archive.sync(str(f2b.dbfile)).inserted == 0


def test_it_records_a_manual_ban_once(f2b, f2b_client, settings):
    f2b_client.ban("sshd", ["203.0.113.60"])

    event = archive.record_manual("203.0.113.60", "sshd", "alice")
    assert (event.origin, event.actor, event.bantime) == ("manual", "alice", 3600)

    archive.sync(str(f2b.dbfile))
    archive.sync(str(f2b.dbfile))

    events = BanEvent.objects.filter(ip="203.0.113.60")
    assert events.count() == 1
    assert events.get().actor == "alice"


def test_a_manual_ban_the_sync_archived_in_between_is_marked_not_doubled(
        f2b, f2b_client, monkeypatch):
    """The 30-minute soak on PostgreSQL: the worker's sync inserted fail2ban's
    row between record_manual's look and its insert (read committed), the
    insert broke the unique constraint and the ban answered "failed" though
    fail2ban had banned. The race, on demand: the sync's row is there, and
    the first look misses it as it did then."""
    f2b_client.ban("sshd", ["203.0.113.61"])
    archive.sync(str(f2b.dbfile))
    assert BanEvent.objects.get(ip="203.0.113.61").actor is None
    real, looks = BanEvent.objects.filter, []

    def first_look_misses(*args, **kwargs):
        looks.append(1)
        found = real(*args, **kwargs)
        return found.none() if len(looks) == 1 else found

    monkeypatch.setattr(BanEvent.objects, "filter", first_look_misses)
    event = archive.record_manual("203.0.113.61", "sshd", "alice")
    monkeypatch.undo()
    assert len(looks) == 2
    assert (event.origin, event.actor) == ("manual", "alice")
    assert BanEvent.objects.filter(ip="203.0.113.61").count() == 1


def test_it_marks_unbans_made_through_bangui(f2b, f2b_client):
    f2b_client.ban("sshd", ["203.0.113.70"])
    archive.record_manual("203.0.113.70", "sshd", "alice")

    assert archive.record_unban("203.0.113.70", "bob") == 1

    event = BanEvent.objects.get(ip="203.0.113.70")
    assert event.unbanned_by == "bob"
    assert event.unbanned_at is not None
    assert archive.record_unban("203.0.113.70", "bob") == 0


def test_it_fills_country_codes_from_geo(f2b, f2b_client):
    f2b_client.ban("sshd", ["8.8.8.8"])
    f2b_client.ban("sshd", ["203.0.113.80"])

    archive.sync(str(f2b.dbfile))

    assert BanEvent.objects.get(ip="8.8.8.8").country_code == "US"
    assert BanEvent.objects.get(ip="203.0.113.80").country_code is None  # documentation range
