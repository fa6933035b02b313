# ruff: noqa: E501 (the schema is fail2ban's, verbatim)
"""Build fail2ban-format sqlite databases for archive tests and the bench.

The schema is fail2ban 1.0.2's (``sqlite3 <dbfile> .schema`` of a sandbox);
``test_fail2ban_db.py`` checks its tables, columns and indexes against the
database of the installed fail2ban-server.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE fail2banDb(version INTEGER);
CREATE TABLE jails(name TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL DEFAULT 1);
CREATE INDEX jails_name ON jails(name);
CREATE TABLE logs(jail TEXT NOT NULL, path TEXT, firstlinemd5 TEXT, lastfilepos INTEGER DEFAULT 0, FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, UNIQUE(jail, path),UNIQUE(jail, path, firstlinemd5));
CREATE INDEX logs_path ON logs(path);
CREATE INDEX logs_jail_path ON logs(jail, path);
CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON, FOREIGN KEY(jail) REFERENCES jails(name) );
CREATE INDEX bans_jail_timeofban_ip ON bans(jail, timeofban);
CREATE INDEX bans_jail_ip ON bans(jail, ip);
CREATE INDEX bans_ip ON bans(ip);
CREATE TABLE bips(ip TEXT NOT NULL, jail TEXT NOT NULL, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON, PRIMARY KEY(ip, jail), FOREIGN KEY(jail) REFERENCES jails(name) );
CREATE INDEX bips_timeofban ON bips(timeofban);
CREATE INDEX bips_ip ON bips(ip);
INSERT INTO fail2banDb(version) VALUES (4);
"""


def create(path: Path, jails: Iterable[str] = ("sshd",)) -> Path:
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.executemany("INSERT INTO jails(name) VALUES (?)", [(j,) for j in jails])
    con.commit()
    con.close()
    return path


def ban_data(failures: int = 3, matches: list | None = None) -> bytes:
    """``data`` as fail2ban writes it (JSON, stored as a blob)."""
    return json.dumps({"matches": matches or [], "failures": failures}).encode()


def add_bans(path: Path, rows: Iterable[tuple]) -> None:
    """rows: (jail, ip, timeofban, bantime, bancount, data)."""
    rows = list(rows)
    con = sqlite3.connect(path)
    with con:
        con.executemany("INSERT OR IGNORE INTO jails(name) VALUES (?)",
                        sorted({(r[0],) for r in rows}))
        con.executemany(
            "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) "
            "VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.close()


def delete_bans(path: Path, jail: str, ip: str) -> None:
    """What fail2ban does on a manual unban (``delBan``)."""
    con = sqlite3.connect(path)
    with con:
        con.execute("DELETE FROM bans WHERE jail = ? AND ip = ?", (jail, ip))
    con.close()
