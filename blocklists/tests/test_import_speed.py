"""The importer writes the archive rows of its bans itself, while fail2ban
bans the next batch (issue #29: 100,000 addresses into a jail without
actions, ``bench/blocklist.py``), instead of waiting for fail2ban's observer
to write its own rows (~10 s behind banip at 100,000) and copying them.
These tests prove, at a size where several batches overlap, that the rows
are the ones the sync would have copied from fail2ban's database, and that
no path leaves a twin. Against the real sandboxed fail2ban, in a jail
without actions added for the test."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from blocklists import importer
from blocklists.importer import run_import
from blocklists.models import BlocklistSource, ImportRun
from conftest import wait_for
from jails.archive import sync as archive
from jails.constants import Origin
from jails.models import BanEvent

pytestmark = [pytest.mark.django_db, pytest.mark.fail2ban]

JAIL = "bl-fast"
COUNT = 6000  # six batches of 1,000 (BAN_BATCH below): five overlap a banip


@pytest.fixture
def fast_jail(f2b, f2b_client, settings, monkeypatch):
    """A running jail without actions (fail2ban's own cost only), stopped
    afterwards so the next test's sandbox is the usual one."""
    settings.BLOCKLIST_ALLOW_PRIVATE = True
    settings.BLOCKLIST_TIMEOUT = 5
    monkeypatch.setattr(importer, "BAN_BATCH", 1000)
    f2b_client.call("add", JAIL, "polling")
    f2b_client.call("set", JAIL, "bantime", "7200")
    f2b_client.call("start", JAIL)
    yield f2b
    f2b_client.unban_all()  # out of fail2ban's db too: a later start would restore them
    f2b_client.call("stop", JAIL)


def addresses(n: int = COUNT) -> list[str]:
    """Documentation and benchmarking ranges (fail2ban bans them like any)."""
    out = []
    for i in range(n):
        out.append(f"198.{18 + i // 65536}.{i // 256 % 256}.{i % 256}")
    return out


def fail2ban_rows(sandbox, jail: str) -> dict[str, tuple]:
    """fail2ban's own rows for ``jail`` as the sync reads them (rowid first)."""
    con = sqlite3.connect(f"file:{sandbox.dbfile}?mode=ro", uri=True, timeout=10)
    try:
        return {row[2]: row for row in con.execute(
            "SELECT rowid, jail, ip, timeofban, bantime, bancount, data FROM bans "
            "WHERE jail = ?", (jail,))}
    finally:
        con.close()


def all_rows_written(sandbox, ips):
    """Wait (bounded) until fail2ban's observer has written every ban's row."""
    rows = wait_for(lambda: len(r := fail2ban_rows(sandbox, JAIL)) >= len(ips) and r,
                    timeout=60)
    assert rows and set(ips) <= set(rows), "fail2ban did not write its rows within 60 s"
    return rows


def archive_rows(ips) -> dict[str, tuple]:
    fields = ("ip", "jail", "banned_at", "bantime", "ban_count", "failures", "matches",
              "origin", "country_code", "node", "ip_key")
    return {r[0]: r for r in BanEvent.objects.filter(jail=JAIL, ip__in=ips)
            .values_list(*fields)}


def expected_rows(theirs: dict[str, tuple], ips) -> dict[str, tuple]:
    """What the one-writer importer stored: the sync's values of fail2ban's
    rows, marked "blocklist", with geo's country."""
    from django.conf import settings

    from jails.models import ip_sort_key

    countries = archive.lookup_countries(ips)
    out = {}
    for ip in ips:
        v = archive._event_values(theirs[ip])
        out[ip] = (v[0], v[1], v[2], v[3], v[4], v[5], v[6], Origin.BLOCKLIST,
                   countries.get(ip), settings.BANGUI_NODE, ip_sort_key(ip))
    return out


def import_list(http_server, ips, name="/fast.txt"):
    http_server.add(name, body=("\n".join(ips) + "\n").encode())
    source = BlocklistSource.objects.create(name=name, url=http_server.base + name, jail=JAIL)
    run = run_import(source)
    assert (run.status, run.newly_banned) == (ImportRun.Status.OK, len(ips)), run.error
    return run


def test_the_importers_rows_are_fail2bans_rows_and_the_sync_adds_none(fast_jail,
                                                                       http_server):
    ips = addresses()
    run = import_list(http_server, ips)
    assert run.timings["archive_overlapped"] > 0  # rows written while fail2ban banned
    # Every row is there when the run ends, before fail2ban has written its own.
    mine = archive_rows(ips)
    assert len(mine) == COUNT
    theirs = all_rows_written(fast_jail, ips)
    assert mine == expected_rows(theirs, ips)
    result = archive.sync()
    assert result.inserted == 0 and result.read >= COUNT
    assert archive_rows(ips) == mine


def test_a_late_banip_leaves_no_twin_whether_the_sync_came_first_or_later(
        fast_jail, http_server, monkeypatch):
    """A banip that reached fail2ban after a half second: the importer's key
    is a second off fail2ban's. Batch one: a sync (the worker's tick) copied
    fail2ban's rows before the importer wrote its own; the rest: the sync
    comes after the import. Either way one row per ban, fail2ban's key,
    "blocklist", geo's country."""
    real_time, real_store = importer.ban_time_of, importer._store_direct
    monkeypatch.setattr(importer, "ban_time_of",
                        lambda sent: real_time(sent) + timedelta(seconds=1))
    first = []

    def sync_first(batch, jail, bantime):
        if not first:
            first.append(batch.ips)
            wait_for(lambda: set(batch.ips) <= set(fail2ban_rows(fast_jail, JAIL)), timeout=60)
            archive.sync()
            assert BanEvent.objects.filter(ip__in=batch.ips, origin=Origin.MANUAL).count() \
                == len(batch.ips)
        return real_store(batch, jail, bantime)

    monkeypatch.setattr(importer, "_store_direct", sync_first)
    ips = addresses(3000)
    import_list(http_server, ips)
    assert BanEvent.objects.filter(jail=JAIL, ip__in=first[0]).count() == len(first[0])
    theirs = all_rows_written(fast_jail, ips)
    archive.sync()
    assert archive_rows(ips) == expected_rows(theirs, ips)


def test_a_jail_with_bantime_increment_is_archived_from_fail2bans_rows(
        fast_jail, f2b_client, http_server):
    """fail2ban sets bantime and ban count per IP there: the importer
    cannot know them, so the sync copies fail2ban's rows (the earlier path)."""
    f2b_client.call("set", JAIL, "bantime.increment", "true")
    ips = addresses(2500)
    import_list(http_server, ips)
    theirs = fail2ban_rows(fast_jail, JAIL)
    assert archive_rows(ips) == expected_rows(theirs, ips)
    assert archive.sync().inserted == 0


def test_the_send_time_is_never_just_before_a_half_second():
    """The rounded send time is fail2ban's stored time when the banip takes
    less than ROUNDING_EDGE to arrive; the wait for it is bounded."""
    edge = importer.ROUNDING_EDGE
    for fraction in [i / 1000 for i in range(1000)]:
        clock = [1_800_000_000 + fraction]
        slept = []

        def sleep(s, clock=clock, slept=slept):
            slept.append(s)
            clock[0] += s

        sent = importer.wait_off_rounding_edge(clock=lambda clock=clock: clock[0], sleep=sleep)
        assert not (0.5 - edge <= sent % 1.0 < 0.5), fraction
        assert sum(slept) <= edge + 0.01
        assert importer.ban_time_of(sent) == datetime.fromtimestamp(round(sent), UTC)


def test_the_importers_countries_are_the_syncs_without_geos_write_through(settings):
    """The importer asks geo's cache and the local MMDB first (no writes);
    the addresses they cannot place go the sync's way. 6,000 addresses:
    public ones from everywhere, and ranges no database places (benchmarking,
    documentation): the same country for each as ``lookup_countries``."""
    from geo.models import GeoCacheEntry

    ips = [f"{a}.{b}.{b * 7 % 256}.{b % 250 + 1}" for a in range(1, 224, 9)
           for b in range(0, 240)][:5000] + addresses(1000)
    assert len(set(ips)) == 6000
    mine = importer._countries(ips)
    written = set(GeoCacheEntry.objects.filter(ip__in=ips[:5000]).values_list("ip", flat=True))
    theirs = archive.lookup_countries(ips)
    assert mine == theirs
    assert len(mine) > 4000  # the MMDB places the public ones
    # geo's table was not filled by the importer with what its MMDB knows.
    assert not written & set(mine)
