"""A page of a jail's live bans read from fail2ban's ``bips``: the walk
down the timeofban index within its budget, the scan when it runs out, and
the same rows either way (#29: the jail page of an older jail under
thousands of newer bans of other jails)."""

from __future__ import annotations

import sqlite3

import pytest

from jails.fail2ban import database
from jails.tests import fail2ban_db

NOW = 1_800_000_000


def _old_rows(con, jail: str, query: str, offset: int, limit: int) -> list[tuple]:
    """The query as it was before the budget: the index walk alone."""
    where, args = database._banned_where(jail, query, NOW)
    return con.execute(
        f"SELECT ip, timeofban, bantime, bancount FROM bips WHERE {where} "  # noqa: S608
        "ORDER BY timeofban DESC, rowid DESC LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()


def _plain(rows) -> list[tuple]:
    return [(e.ip, e.banned_at, e.bantime, e.ends_at, count) for e, count in rows]


@pytest.fixture(scope="module")
def bips(tmp_path_factory):
    """'old' banned first (3,000 bans, some expired, some permanent, many
    sharing a second), then 'new' with 30,000 newer bans on top of them."""
    path = fail2ban_db.create(tmp_path_factory.mktemp("f2b") / "fail2ban.sqlite3",
                              ("old", "new"))
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO bips(ip, jail, timeofban, bantime, bancount) VALUES (?, ?, ?, ?, ?)",
            [(f"10.1.{i // 250}.{i % 250}", "old", NOW - 50_000 + i // 7,
              -1 if i % 97 == 0 else (10 if i % 13 == 0 else 86_400), 1 + i % 4)
             for i in range(3_000)])
        con.executemany(
            "INSERT INTO bips(ip, jail, timeofban, bantime, bancount) VALUES (?, ?, ?, ?, ?)",
            [(f"10.2.{i // 250}.{i % 250}", "new", NOW - 40_000 + i, 86_400, 1)
             for i in range(30_000)])
    con.close()
    con = database.connect(path)
    yield con
    con.close()


def _steps(con, jail: str) -> int:
    """SQLite steps (in thousands) the old index walk takes for a page."""
    taken = []
    con.set_progress_handler(lambda: taken.append(1) and 0, 1_000)
    try:
        _old_rows(con, jail, "", 0, 50)
    finally:
        con.set_progress_handler(None, 0)
    return len(taken)


def test_the_older_jail_runs_out_of_its_walk_and_the_newer_does_not(bips):
    assert _steps(bips, "old") * 1_000 > database.WALK_STEPS
    assert _steps(bips, "new") * 1_000 < database.WALK_STEPS


@pytest.mark.parametrize(("jail", "query", "offset", "limit"), [
    ("old", "", 0, 50), ("old", "", 50, 50), ("old", "", 2_950, 50), ("old", ".3.", 0, 50),
    ("old", "", 0, 5_000), ("new", "", 0, 50), ("new", "", 29_990, 50), ("new", "10.2.7", 0, 50),
    ("missing", "", 0, 50)])
def test_a_page_is_the_same_rows_walked_or_scanned(bips, jail, query, offset, limit):
    old = _old_rows(bips, jail, query, offset, limit)
    new = database.banned_rows(bips, jail, query, offset, limit, NOW)
    assert [(e.ip, int(e.banned_at.timestamp()), e.bantime, count) for e, count in new] == old
    if jail == "old" and not query and limit == 50 and offset < 2_000:
        assert len(old) == 50  # the page is full: the scan found the same 50


def test_a_page_is_the_same_with_no_budget_at_all(bips, monkeypatch):
    """Every page scanned (the walk refused at its first step): the same
    rows, ties of one second in the same order."""
    walked = _plain(database.banned_rows(bips, "new", "", 100, 50, NOW))
    monkeypatch.setattr(database, "WALK_STEPS", 0)
    for jail in ("old", "new"):
        for offset in (0, 100, 1_000):
            scanned = database.banned_rows(bips, jail, "", offset, 50, NOW)
            assert [(e.ip, int(e.banned_at.timestamp()), e.bantime, n) for e, n in scanned] \
                == _old_rows(bips, jail, "", offset, 50)
    assert _plain(database.banned_rows(bips, "new", "", 100, 50, NOW)) == walked


def test_the_budget_is_taken_off_the_connection_afterwards(bips):
    database.banned_rows(bips, "old", "", 0, 50, NOW)
    # A long statement after it is not interrupted.
    assert bips.execute("SELECT count(*) FROM bips, (SELECT 1 UNION SELECT 2)").fetchone()[0] \
        == 66_000
