"""The archive sync's speed-ups change nothing in what it writes (issue #29:
a first sync of a million rows): the IPv4 sort key without ipaddress, and
fail2ban's pages read and parsed in a second thread while the inserts run.
Each is checked at a size where it matters (many pages, every kind of row)
against the archive's rows computed one by one the plain way. Timings live
in bench/archive.py, never here."""

from __future__ import annotations

import random

import pytest
from django.conf import settings
from django.core.management import call_command

from jails.archive import backfill
from jails.archive import sync as archive
from jails.models import BanEvent, SyncState, fast_ip_key, ip_sort_key
from jails.tests import fail2ban_db
from jails.tests.fail2ban_db import ban_data

T0 = 1_790_000_000
FIELDS = ("node", "ip", "ip_key", "jail", "banned_at", "bantime", "ban_count", "failures",
          "matches", "origin", "country_code", "actor", "unbanned_at", "shared_from")


def test_the_fast_ip_key_is_ip_sort_key_for_every_kind_of_text():
    rng = random.Random(7)
    odd = ["0.0.0.0",  # noqa: S104 (a text, not a bind)
           "255.255.255.255", "1.2.3.4", "01.2.3.4", "1.2.3.04", "000.1.1.1",
           "1.2.3.256", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", " 1.2.3.4", "1.2.3.4 ",
           "1.2.3.4\n", "+1.2.3.4", "0x1.2.3.4", "1.2.3.4/24", "203.0.113.0/24", "",
           "1.2.3.4\x00", "\u0661.2.3.4", "1.2.3.\u0664", "1.2.3.-4", "1.2.3.4.",
           ".1.2.3.4", "::ffff:1.2.3.4", "::1", "2001:db8::1", "2001:db8:1:2::/64",
           "fe80::1%eth0", "2001:DB8::A", "garbage", "1.2.3.4:22", "\uff11.2.3.4", "1.2.3.4/",
           "1e2.1.1.1", "99999999999.1.1.1", "4294967295", "1.2.3.4 /24"]
    addresses = [f"{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                 f"{rng.randint(0, 255)}" for _ in range(50_000)]
    addresses += [f"{rng.randint(0, 999)}.{rng.randint(0, 9)}.{rng.choice(['', '0', '00'])}"
                  f"{rng.randint(0, 300)}.{rng.randint(0, 99)}" for _ in range(20_000)]
    addresses += [":".join(f"{rng.randint(0, 0xffff):x}" for _ in range(8))
                  for _ in range(2_000)]
    for ip in odd + addresses:
        assert fast_ip_key(ip) == ip_sort_key(ip), repr(ip)


def _history(n: int) -> list[tuple]:
    """n rows of fail2ban's bans, every kind the sync tells apart: detected
    (long and multi-line matches), manual, blocklist, IPv6, networks,
    unusable rows (empty ip, a jail name over 64 characters), odd data."""
    rng = random.Random(29)
    rows = []
    for i in range(n):
        kind = i % 10
        t = T0 + i // 3  # several bans a second: same-second keys on other IPs
        ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{i % 250 + 1}"
        jail, data = "sshd", ban_data(3, [f"Failed password for root from {ip} port 22"] * 3)
        if kind == 1:
            jail, data = "nginx", ban_data(0, [])  # manual
        elif kind == 2:
            jail, data = archive.BLOCKLIST_JAIL, ban_data(0, [])
        elif kind == 3:
            ip = f"2001:db8:{i % 7}::{i:x}"
        elif kind == 4:
            ip = f"203.0.{i % 256}.0/24"
        elif kind == 5:
            data = ban_data(7, [["part ", i, "\nline"], "x" * 5000, "y"])
        elif kind == 6 and i % 1000 == 6:
            ip = ""  # unusable
        elif kind == 7 and i % 1000 == 7:
            jail = "j" * 65  # unusable
        elif kind == 8:
            data = b"not json" if i % 20 == 8 else b'{"failures": "x", "matches": 5}'
        rows.append((jail, ip, t, rng.choice((600, -1, 86400)), rng.choice((1, 2, 3)), data))
    rows += rows[: n // 10]  # fail2ban rows of bans already seen: no duplicates archived
    return rows


def _expected(rows: list[tuple], countries: dict[str, str]) -> set[tuple]:
    """The archive's rows, computed row by row the plain way."""
    out = set()
    for rowid, row in enumerate(rows, 1):
        v = archive._event_values((rowid, *row))
        if v is None:
            continue
        ip = v[archive._IP]
        out.add((settings.BANGUI_NODE, ip, ip_sort_key(ip), v[archive._JAIL],
                 v[archive._BANNED_AT], v[archive._BANTIME], v[archive._BAN_COUNT],
                 v[archive._FAILURES], v[archive._MATCHES], v[archive._ORIGIN],
                 countries.get(ip), None, None, None))
    return out


def _archived() -> list[tuple]:
    return [tuple(r) for r in BanEvent.objects.order_by("id").values_list(*FIELDS)]


@pytest.mark.django_db(transaction=True)
def test_a_sync_read_ahead_writes_the_rows_one_by_one_would(history):
    path, rows = history
    result = archive.sync(str(path), batch_size=700)  # 20 pages, geo on
    archived = _archived()
    countries = archive.lookup_countries({r[1] for r in archived})
    assert countries  # geo placed some: the countries are checked too
    assert len(archived) == len(set(archived)) == result.inserted
    assert set(archived) == _expected(rows, countries)
    unusable = sum(archive._event_values((0, *r)) is None for r in rows)
    assert result.read == len(rows) and result.invalid == unusable == 28
    assert {r[9] for r in archived} == {"detected", "manual", "blocklist"}
    state = SyncState.objects.get()
    assert state.last_rowid == len(rows) and state.max_timeofban == max(r[2] for r in rows)
    assert archive.sync(str(path), batch_size=700).inserted == 0  # nothing twice
    assert archive.sync(str(path), batch_size=700, full=True).inserted == 0
    assert _archived() == archived


@pytest.mark.django_db(transaction=True)
def test_bounded_runs_read_ahead_yet_resume_where_they_stopped(history):
    """The tick's max_rows: the reader thread stops at the limit, the cursor
    rests on the last row written, the next run goes on from there."""
    path, rows = history
    runs = []
    while not runs or runs[-1].read:
        runs.append(archive.sync(str(path), batch_size=500, max_rows=1_500, fill_geo=False))
        if runs[-1].read:
            assert SyncState.objects.get().last_rowid == min(1_500 * (len(runs)), len(rows))
    assert [r.read for r in runs[:-1]] == [1_500] * 8 + [1_200]
    assert set(_archived()) == _expected(rows, {})


@pytest.mark.django_db(transaction=True)
def test_a_row_the_reader_cannot_read_fails_the_run_after_the_pages_before_it(history):
    path, rows = history
    fail2ban_db.add_bans(path, [("sshd", "192.0.2.1", 10**13, 600, 1, ban_data())])
    with pytest.raises((ValueError, OverflowError)):  # datetime's: year out of range
        archive.sync(str(path), batch_size=1_000, fill_geo=False)
    # Every page before the bad row's is archived, with its cursor.
    assert SyncState.objects.get().last_rowid == 13_000
    assert set(_archived()) == _expected(rows[:13_000], {})


@pytest.mark.django_db(transaction=True)
def test_the_backfill_writes_what_the_plain_sync_writes(history):
    path, rows = history
    call_command("sync_bans", "--backfill", "--db", str(path), "--batch-size", "900")
    by_backfill = sorted(_archived())
    BanEvent.objects.all().delete()
    SyncState.objects.all().delete()
    archive.sync(str(path), batch_size=900)
    assert sorted(_archived()) == by_backfill
    assert len(by_backfill) == len(_expected(rows, {}))
    assert {i.name for i in BanEvent._meta.indexes} <= backfill.index_names()

