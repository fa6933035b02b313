"""A page of a jail's live bans read from fail2ban's database: walked from
the jail's own ``bans`` (indexed by jail) within a budget, scanned from
``bips`` when the walk cannot fill the page, and the same rows as the scan
either way (#29: the jail page of an older jail under thousands of newer
bans of other jails, and of a jail with long bans fail2ban purged from
``bans``)."""

from __future__ import annotations

import sqlite3

import pytest

from jails.fail2ban import database
from jails.tests import fail2ban_db

NOW = 1_800_000_000
DAY = 86_400


def _scanned(con, jail: str, query: str, offset: int, limit: int) -> list[tuple]:
    """The reference: every live ban of ``bips`` read and sorted."""
    where, args = database._banned_where(jail, query, NOW)
    return con.execute(
        f"SELECT ip, timeofban, bantime, bancount FROM bips NOT INDEXED WHERE {where} "  # noqa: S608
        "ORDER BY timeofban DESC, rowid DESC LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()


def _rows(con, jail, query, offset, limit) -> list[tuple]:
    return [(e.ip, int(e.banned_at.timestamp()), e.bantime, count)
            for e, count in database.banned_rows(con, jail, query, offset, limit, NOW)]


class _History:
    """fail2ban's writes, in order: a ban goes to ``bans`` and replaces the
    IP's ``bips`` row in one transaction; an unban deletes both; a purge
    deletes old ``bans`` rows and keeps long bans in ``bips``."""

    def __init__(self, con):
        self.con = con

    def ban(self, jail, ip, when, bantime, count=1):
        self.con.execute("INSERT INTO bans(jail, ip, timeofban, bantime, bancount) "
                         "VALUES (?, ?, ?, ?, ?)", (jail, ip, when, bantime, count))
        self.con.execute("INSERT OR REPLACE INTO bips(ip, jail, timeofban, bantime, bancount) "
                         "VALUES (?, ?, ?, ?, ?)", (ip, jail, when, bantime, count))

    def unban(self, jail, ip):
        self.con.execute("DELETE FROM bips WHERE jail = ? AND ip = ?", (jail, ip))
        self.con.execute("DELETE FROM bans WHERE jail = ? AND ip = ?", (jail, ip))

    def purge(self, before):
        self.con.execute("DELETE FROM bans WHERE timeofban < ?", (before,))


@pytest.fixture(scope="module")
def f2b(tmp_path_factory):
    path = fail2ban_db.create(tmp_path_factory.mktemp("f2b") / "fail2ban.sqlite3",
                              ("old", "new", "long"))
    con = sqlite3.connect(path)
    history = _History(con)
    with con:
        # 'long': week-long bans from 3 days ago, then fail2ban's purge of
        # bans older than a day (its default dbpurgeage), then newer bans.
        for i in range(400):
            history.ban("long", f"10.3.0.{i % 250}.{i}", NOW - 3 * DAY + i, 7 * DAY)
        history.purge(NOW - DAY)
        for i in range(120):
            history.ban("long", f"10.3.1.{i}", NOW - DAY // 2 + i // 3, 7 * DAY)
        # 'old': 3,000 bans, some expired, some permanent, many sharing a
        # second; every 11th address banned again later (a higher count),
        # every 17th twice within its one second, every 29th unbanned.
        for i in range(3_000):
            ip, when = f"10.1.{i // 250}.{i % 250}", NOW - 50_000 + i // 7
            bantime = -1 if i % 97 == 0 else (10 if i % 13 == 0 else DAY)
            history.ban("old", ip, when, bantime, 1)
            if i % 17 == 0:
                history.ban("old", ip, when, bantime, 2)
        for i in range(0, 3_000, 11):
            history.ban("old", f"10.1.{i // 250}.{i % 250}", NOW - 45_000 + i // 50, DAY, 3)
        for i in range(0, 3_000, 29):
            history.unban("old", f"10.1.{i // 250}.{i % 250}")
        # 'new': 30,000 newer bans on top of them.
        for i in range(30_000):
            history.ban("new", f"10.2.{i // 250}.{i % 250}", NOW - 40_000 + i, DAY)
    con.close()
    con = database.connect(path)
    yield con
    con.close()


@pytest.mark.parametrize(("jail", "query", "offset", "limit"), [
    ("old", "", 0, 50), ("old", "", 50, 50), ("old", "", 400, 50), ("old", "", 2_700, 50),
    ("old", ".3.", 0, 50), ("old", "", 0, 5_000), ("new", "", 0, 50), ("new", "", 29_990, 50),
    ("new", "10.2.7", 0, 50), ("long", "", 0, 50), ("long", "", 100, 50), ("long", "", 0, 500),
    ("long", "10.3.0", 0, 50), ("missing", "", 0, 50)])
def test_a_page_is_the_scans_page(f2b, jail, query, offset, limit):
    assert _rows(f2b, jail, query, offset, limit) == _scanned(f2b, jail, query, offset, limit)


def test_the_history_has_what_the_walk_must_skip(f2b):
    """The fixture is not vacuous: superseded bans, same-second repeats,
    unbans, expired bans and purged long bans are all there."""
    one = f2b.execute
    assert one("SELECT count(*) FROM bans WHERE jail = 'old'").fetchone()[0] > \
        one("SELECT count(*) FROM bips WHERE jail = 'old'").fetchone()[0]
    assert one("SELECT count(*) FROM (SELECT 1 FROM bans WHERE jail = 'old' "
               "GROUP BY ip, timeofban HAVING count(*) > 1)").fetchone()[0] > 0
    assert one("SELECT count(*) FROM bips WHERE jail = 'long' AND NOT EXISTS (SELECT 1 FROM "
               "bans WHERE bans.jail = bips.jail AND bans.ip = bips.ip)").fetchone()[0] == 400
    assert len(_scanned(f2b, "old", "", 0, 5_000)) < 3_000


def _statements(con, *page) -> list[str]:
    seen: list[str] = []
    con.set_trace_callback(seen.append)
    try:
        database.banned_rows(con, *page, NOW)
    finally:
        con.set_trace_callback(None)
    return seen


@pytest.mark.parametrize(("jail", "offset", "walked"), [
    ("old", 0, True), ("old", 200, True), ("new", 0, True),
    ("long", 0, True),     # the 120 bans still in ``bans`` fill it
    ("long", 100, False),  # past them: the purged bans come from the scan
    ("old", 2_700, False),  # deeper than the budget
])
def test_the_walk_answers_the_pages_it_can_fill(f2b, jail, offset, walked):
    statements = _statements(f2b, jail, "", offset, 50)
    assert any("FROM bans JOIN bips" in s for s in statements)
    assert any("NOT INDEXED" in s for s in statements) is not walked


def test_with_no_budget_at_all_every_page_is_scanned(f2b, monkeypatch):
    walked = _rows(f2b, "new", "", 100, 50)
    monkeypatch.setattr(database, "WALK_STEPS", 0)
    for jail in ("old", "new", "long"):
        for offset in (0, 100, 1_000):
            assert _rows(f2b, jail, "", offset, 50) == _scanned(f2b, jail, "", offset, 50)
    assert _rows(f2b, "new", "", 100, 50) == walked


def test_the_budget_is_taken_off_the_connection_afterwards(f2b):
    database.banned_rows(f2b, "old", "", 2_700, 50, NOW)
    # A long statement after it is not interrupted.
    total = f2b.execute("SELECT count(*) FROM bips").fetchone()[0]
    assert f2b.execute("SELECT count(*) FROM bips, (SELECT 1 UNION SELECT 2)").fetchone()[0] \
        == 2 * total
