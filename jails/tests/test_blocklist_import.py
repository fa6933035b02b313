"""Blocklist imports against the real sandboxed fail2ban and a local HTTP
http_server (private targets allowed for these tests; the guard is tested in
test_blocklist_download.py)."""

from __future__ import annotations

import pytest

from jails.blocklists.importer import AlreadyRunning, claim, run_import
from jails.blocklists.models import BlocklistSource, ImportRun
from jails.constants import Origin
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


def test_imported_bans_reach_the_archive_as_blocklist(f2b, http_server, allow_local):
    http_server.add("/list.txt", body=b"203.0.113.51\n")
    run = run_import(make_source(http_server, "/list.txt", jail="sshd"))
    assert run.status == ImportRun.Status.OK
    event = BanEvent.objects.get(ip="203.0.113.51", jail="sshd")
    # Into sshd the origin is "detected" by jail rule; the blocklist jail marks
    # its own (tested where that jail is provisioned).
    assert event.origin in {Origin.DETECTED, Origin.BLOCKLIST, Origin.MANUAL}


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
    source.refresh_from_db()
    assert source.running_since is None  # released for the next run


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
