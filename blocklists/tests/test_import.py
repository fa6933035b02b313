"""Blocklist imports against the real sandboxed fail2ban and a local HTTP
http_server (private targets allowed for these tests; the guard is tested in
test_blocklist_download.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blocklists import importer
from blocklists.importer import AlreadyRunning, claim, run_import
from blocklists.models import BlocklistSource, ImportRun
from conftest import wait_for
from jails.archive import sync as archive
from jails.constants import Origin
from jails.fail2ban import CommandError, Fail2banClient
from jails.models import BanEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def allow_local(settings):
    settings.BLOCKLIST_ALLOW_PRIVATE = True
    settings.BLOCKLIST_TIMEOUT = 2
    return settings


def make_source(http_server, path, jail="sshd"):
    return BlocklistSource.objects.create(name=path, url=http_server.base + path, jail=jail)


def test_it_bans_exactly_the_valid_ips(f2b, f2b_client, http_server, allow_local):
    http_server.add("/list.txt",
                    body=b"# list\n203.0.113.31\nbogus\n203.0.113.32 # x\n203.0.113.31\n")
    run = run_import(make_source(http_server, "/list.txt"))
    assert run.status == ImportRun.Status.OK, run.error
    assert (run.valid, run.invalid, run.duplicates, run.newly_banned) == (3, 1, 1, 2)
    assert sorted(f2b_client.jail_status("sshd").banned_ips) == ["203.0.113.31", "203.0.113.32"]


def test_a_rerun_bans_nothing_new_and_says_so(f2b, f2b_client, http_server, allow_local):
    http_server.add("/list.txt", body=b"203.0.113.41\n203.0.113.42\n")
    source = make_source(http_server, "/list.txt")
    run_import(source)
    again = run_import(source)
    assert (again.newly_banned, again.already_banned) == (0, 2)


def fail2ban_rows(sandbox, jail):
    """(ip, timeofban, bantime) of fail2ban's own db rows for ``jail``."""
    con = sqlite3.connect(f"file:{sandbox.dbfile}?mode=ro", uri=True, timeout=10)
    try:
        return {ip: (tob, bt) for ip, tob, bt in con.execute(
            "SELECT ip, timeofban, bantime FROM bans WHERE jail = ?", (jail,))}
    finally:
        con.close()


def test_imported_bans_reach_the_archive_as_blocklist(f2b, http_server, allow_local):
    http_server.add("/list.txt", body=b"203.0.113.51\n")
    run = run_import(make_source(http_server, "/list.txt", jail="sshd"))
    assert run.status == ImportRun.Status.OK
    event = BanEvent.objects.get(ip="203.0.113.51", jail="sshd")
    # Marked by the importer, into any jail (the sync alone would call a
    # banip in sshd "manual").
    assert event.origin == Origin.BLOCKLIST
    assert set(run.timings) >= {"download", "parse", "ban", "archive", "total"}


def test_archived_rows_have_fail2bans_key_and_the_sync_adds_no_twin(
        f2b, http_server, allow_local, monkeypatch):
    # Several batches; the rows are fail2ban's own, copied by the sync.
    monkeypatch.setattr(importer, "BAN_BATCH", 3)
    ips = [f"198.51.100.{i}" for i in range(1, 11)]
    http_server.add("/many.txt", body="\n".join(ips).encode())
    run = run_import(make_source(http_server, "/many.txt"))
    assert (run.status, run.newly_banned) == (ImportRun.Status.OK, 10), run.error
    rows = {e.ip: e for e in BanEvent.objects.filter(jail="sshd", ip__in=ips)}
    assert set(rows) == set(ips)
    assert {e.origin for e in rows.values()} == {Origin.BLOCKLIST}
    # fail2ban writes its rows a moment after banip answers.
    theirs = wait_for(lambda: len(fail2ban_rows(f2b, "sshd").keys() & set(ips)) == 10
                      and fail2ban_rows(f2b, "sshd"))
    for ip in ips:
        timeofban, bantime = theirs[ip]
        assert rows[ip].banned_at == datetime.fromtimestamp(timeofban, UTC), ip
        assert rows[ip].bantime == bantime
    archive.sync()  # the scheduled sync reads fail2ban's rows for the same bans
    assert BanEvent.objects.filter(jail="sshd", ip__in=ips).count() == 10
    assert not BanEvent.objects.filter(ip__in=ips).exclude(origin=Origin.BLOCKLIST).exists()


def test_ipv6_entries_are_archived_in_fail2bans_text(f2b, http_server, allow_local):
    # fail2ban turns an IPv4-mapped address into IPv4 and writes IPv6 with
    # inet_ntop; the importer's rows must carry the same text, or the sync
    # would add a twin.
    http_server.add("/v6.txt", body=b"::ffff:203.0.113.99\n2001:DB8:0:0::5\n::203.0.113.98\n")
    run = run_import(make_source(http_server, "/v6.txt"))
    assert (run.status, run.newly_banned) == (ImportRun.Status.OK, 3), run.error
    mine = set(BanEvent.objects.filter(jail="sshd").values_list("ip", flat=True))
    theirs = wait_for(lambda: len(set(fail2ban_rows(f2b, "sshd")) & mine) == 3
                      and set(fail2ban_rows(f2b, "sshd")))
    assert mine <= theirs
    assert "203.0.113.99" in mine and "2001:db8::5" in mine
    archive.sync()  # (the shared sandbox's other rows may come along: count ours)
    assert BanEvent.objects.filter(jail="sshd", ip__in=mine).count() == 3


def test_an_address_banned_by_hand_keeps_its_origin(f2b, f2b_client, http_server,
                                                     allow_local):
    # Banned by an admin a moment before the import: not sent again, and its
    # archive row stays "manual".
    f2b_client.ban("sshd", ["203.0.113.61"])
    archive.sync()
    http_server.add("/list.txt", body=b"203.0.113.61\n203.0.113.62\n")
    run = run_import(make_source(http_server, "/list.txt"))
    assert (run.status, run.newly_banned, run.already_banned) == (ImportRun.Status.OK, 1, 1)
    assert BanEvent.objects.get(ip="203.0.113.61", jail="sshd").origin == Origin.MANUAL
    assert BanEvent.objects.get(ip="203.0.113.62", jail="sshd").origin == Origin.BLOCKLIST
    assert BanEvent.objects.filter(ip="203.0.113.62").count() == 1


def test_the_rows_go_in_as_blocklist_with_no_update(f2b, http_server, allow_local):
    # Marked as the sync inserts them (archive.Sent), not by an UPDATE of
    # every archived row afterwards (which fired the rollup's triggers again).
    ips = [f"198.51.100.{i}" for i in range(21, 41)]
    http_server.add("/list.txt", body="\n".join(ips).encode())
    with CaptureQueriesContext(connection) as ctx:
        run = run_import(make_source(http_server, "/list.txt"))
    assert (run.status, run.newly_banned) == (ImportRun.Status.OK, 20), run.error
    table = BanEvent._meta.db_table
    updates = [q["sql"] for q in ctx.captured_queries
               if q["sql"].lstrip().upper().startswith("UPDATE") and table in q["sql"]]
    assert updates == []
    assert {e.origin for e in BanEvent.objects.filter(jail="sshd", ip__in=ips)} == {
        Origin.BLOCKLIST}
    assert BanEvent.objects.filter(jail="sshd", ip__in=ips).count() == 20


def test_rows_another_sync_copied_first_are_marked_too(f2b, f2b_client, http_server,
                                                         allow_local, monkeypatch):
    # The node's tick may copy the import's rows before the import's own sync
    # does ("manual": a plain sync cannot tell); the importer marks those of
    # the addresses it sent, and no other: an admin's ban in the same jail
    # during the import stays "manual", and so does another node's row of a
    # listed address (one database, many nodes).
    ips = [f"198.51.100.{i}" for i in range(41, 51)]
    http_server.add("/list.txt", body="\n".join(ips).encode())
    BanEvent.objects.create(node="other-node", ip=ips[0], jail="sshd", origin=Origin.MANUAL,
                            banned_at=timezone.now() + timedelta(seconds=30), bantime=600,
                            failures=0, ban_count=1)
    real = archive.sync

    def tick_first(*args, sent=None, **kwargs):
        f2b_client.ban("sshd", ["203.0.113.79"])
        wait_for(lambda: len(fail2ban_rows(f2b, "sshd").keys() & {*ips, "203.0.113.79"}) == 11)
        real(*args, **kwargs)  # the tick: no Sent
        return real(*args, sent=sent, **kwargs)

    monkeypatch.setattr(archive, "sync", tick_first)
    run = run_import(make_source(http_server, "/list.txt"))
    assert (run.status, run.newly_banned) == (ImportRun.Status.OK, 10), run.error
    rows = BanEvent.objects.filter(jail="sshd", ip__in=ips).exclude(node="other-node")
    assert rows.count() == 10
    assert {e.origin for e in rows} == {Origin.BLOCKLIST}
    assert BanEvent.objects.get(jail="sshd", ip="203.0.113.79").origin == Origin.MANUAL
    assert BanEvent.objects.get(node="other-node").origin == Origin.MANUAL


def test_the_sync_marks_only_the_rows_an_import_sent(f2b, f2b_client):
    # archive.Sent: the jail, the addresses and the time all have to match.
    f2b_client.ban("sshd", ["203.0.113.81"])  # banned before the import began
    wait_for(lambda: "203.0.113.81" in fail2ban_rows(f2b, "sshd"))
    since = datetime.fromtimestamp(fail2ban_rows(f2b, "sshd")["203.0.113.81"][0] + 1, UTC)
    wait_for(lambda: datetime.now(UTC) >= since)
    f2b_client.ban("sshd", ["203.0.113.82", "203.0.113.83"])
    wait_for(lambda: {"203.0.113.82", "203.0.113.83"} <= fail2ban_rows(f2b, "sshd").keys())
    archive.sync(sent=archive.Sent("sshd", frozenset({"203.0.113.81", "203.0.113.82"}), since))
    origin = dict(BanEvent.objects.filter(jail="sshd", ip__startswith="203.0.113.8")
                  .values_list("ip", "origin"))
    assert origin == {"203.0.113.81": Origin.MANUAL, "203.0.113.82": Origin.BLOCKLIST,
                      "203.0.113.83": Origin.MANUAL}


def test_a_failed_batch_keeps_the_earlier_ones_banned_and_archived(
        f2b, f2b_client, http_server, allow_local, monkeypatch):
    monkeypatch.setattr(importer, "BAN_BATCH", 2)

    class SecondBatchFails(Fail2banClient):
        # A fault a real fail2ban does not show on demand: the second banip fails.
        sent = 0

        def ban(self, jail, ips, **kwargs):
            SecondBatchFails.sent += 1
            if SecondBatchFails.sent == 2:
                raise CommandError(["set", jail, "banip"], "Exception", "boom")
            return super().ban(jail, ips, **kwargs)

    ips = ["203.0.113.71", "203.0.113.72", "203.0.113.73", "203.0.113.74"]
    http_server.add("/list.txt", body="\n".join(ips).encode())
    source = make_source(http_server, "/list.txt")
    run = run_import(source, client=SecondBatchFails(str(f2b.socket)))
    assert run.status == ImportRun.Status.FAILED
    assert "boom" in run.error
    assert sorted(f2b_client.jail_status("sshd").banned_ips) == ips[:2]
    # (the sync copies the shared sandbox's whole history: an earlier test's
    # row may come along; this test's addresses are what it checks)
    assert set(BanEvent.objects.filter(ip__in=ips).values_list("ip", flat=True)) == set(ips[:2])
    assert {e.origin for e in BanEvent.objects.filter(ip__in=ips)} == {Origin.BLOCKLIST}
    assert _claimed(source) is None


@pytest.mark.parametrize("body, reason", [
    (b"\x00\x01\x02binary", "binary"),
    (b"<html>oops</html>\n", "no valid address"),
])
def test_garbage_fails_cleanly(f2b, f2b_client, http_server, allow_local, body, reason):
    f2b_client.ban("sshd", ["203.0.113.60"])
    http_server.add("/bad", body=body)
    run = run_import(make_source(http_server, "/bad"))
    assert run.status == ImportRun.Status.FAILED
    assert reason in run.error
    assert f2b_client.jail_status("sshd").banned_ips == ["203.0.113.60"]  # earlier bans kept


def test_an_oversize_list_fails_cleanly(f2b, http_server, allow_local):
    allow_local.BLOCKLIST_MAX_BYTES = 1024
    http_server.add("/big", body=b"203.0.113.70\n" * 500)
    run = run_import(make_source(http_server, "/big"))
    assert run.status == ImportRun.Status.FAILED
    assert "1,024-byte limit" in run.error


def test_a_dead_fail2ban_fails_cleanly(f2b, http_server, allow_local):
    http_server.add("/list.txt", body=b"203.0.113.80\n")
    source = make_source(http_server, "/list.txt")
    f2b.stop()
    run = run_import(source)
    assert run.status == ImportRun.Status.FAILED
    assert "unreachable" in run.error
    assert _claimed(source) is None  # released for the next run


def test_the_guard_refuses_localhost_when_private_is_off(f2b, http_server, settings):
    settings.BLOCKLIST_ALLOW_PRIVATE = False
    http_server.add("/list.txt", body=b"203.0.113.90\n")
    run = run_import(make_source(http_server, "/list.txt"))
    assert run.status == ImportRun.Status.FAILED
    assert "loopback" in run.error
    assert "/list.txt" not in http_server.hits


def test_two_runs_of_one_source_never_overlap(f2b, http_server, allow_local):
    source = make_source(http_server, "/list.txt")
    assert claim(source)
    with pytest.raises(AlreadyRunning):
        run_import(source)
    assert not ImportRun.objects.exists()


def _claimed(source):
    """When this node's claim on ``source`` was taken (None: free)."""
    from django.conf import settings

    from blocklists.models import BlocklistClaim

    return (BlocklistClaim.objects.filter(source=source, node=settings.BANGUI_NODE)
            .values_list("running_since", flat=True).first())


def test_a_failed_archive_copy_does_not_fail_the_import(f2b, f2b_client, http_server,
                                                        allow_local, monkeypatch):
    """The bans are made when the copy into the archive fails (a database
    that stayed locked, fail2ban's file busy): the run is OK and says the
    next sync copies them; that sync does."""
    from jails.fail2ban import database

    def locked(*args, **kwargs):
        raise database.Error("database is locked")  # a fault: fail2ban's file held too long

    http_server.add("/list.txt", body=b"203.0.113.61\n203.0.113.62\n")
    real = archive.sync
    monkeypatch.setattr(archive, "sync", locked)
    run = run_import(make_source(http_server, "/list.txt"))
    assert run.status == ImportRun.Status.OK
    assert run.newly_banned == 2
    assert "the next archive sync copies them" in run.error
    assert "database is locked" in run.error
    assert sorted(f2b_client.jail_status("sshd").banned_ips) == ["203.0.113.61", "203.0.113.62"]
    monkeypatch.setattr(archive, "sync", real)
    wait_for(lambda: real() and BanEvent.objects.filter(
        ip__in=["203.0.113.61", "203.0.113.62"]).count() == 2)


@pytest.mark.django_db(transaction=True)  # the second sync runs in a thread of its own
def test_a_sync_waits_for_the_one_running_on_the_same_file(f2b, settings, tmp_path):
    """Two syncs of one fail2ban file never run at once on a host: the
    second waits for the first and then reads only what is new."""
    import threading

    settings.DATA_DIR = tmp_path
    path = archive.fail2ban_db_path()
    held, release, finished = threading.Event(), threading.Event(), threading.Event()

    def first():
        with archive._one_sync(str(Path(path).resolve()), 60):
            held.set()
            release.wait(30)

    def second():
        from django.db import connection

        try:
            archive.sync(path)
            finished.set()
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert held.wait(10)
    two = threading.Thread(target=second)
    two.start()
    assert not finished.wait(0.5)  # waiting for the first
    release.set()
    one.join(10)
    two.join(30)
    assert finished.is_set()


@pytest.mark.parametrize(("jail", "hint"), [
    ("blocklist-import", "one of BanGUI's own jails: create it on the Config page"),
    ("nginx-404", "Start the jail 'nginx-404' (or aim the source at a running jail)"),
])
def test_a_jail_that_is_not_running_fails_with_what_to_do(f2b, http_server, allow_local,
                                                          jail, hint):
    """The demo's first import used to end in a bare "no jail named
    'blocklist-import' is running": BanGUI's jails exist once created."""
    http_server.add("/list.txt", body=b"203.0.113.41\n")
    run = run_import(make_source(http_server, "/list.txt", jail=jail))
    assert run.status == ImportRun.Status.FAILED
    assert f"no jail named {jail!r} is running" in run.error
    assert hint in run.error
