"""A sandboxed fail2ban-server holding tens of thousands of live bans over
several jails, for the benches: a page is timed against fail2ban as
operators run it, never with fail2ban down.

Jails ``sshd`` and ``nginx-http-auth`` keep dummy actions (as in the demo);
the crowd jails (named like the archive's jails, so a page's rows find their
live bans) have no actions, so 50,000 bans take seconds (fail2ban runs one
action process per ban otherwise; FAIL2BAN_NOTES.md). ``fill`` bans the
given IPs first (e.g. the archive's newest), then numbered 10.x addresses,
and waits until fail2ban's observer thread has written every ban to its
database, as pages read them from there.
"""

from __future__ import annotations

import ipaddress
import sqlite3
import time
from pathlib import Path

from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import DEFAULT_JAILS, Sandbox, SandboxJail

CROWD_JAILS = ("postfix", "dovecot", "recidive", "apache-auth", "nginx-botsearch")
BATCH = 5000


def sandbox(root: Path, jails: tuple[str, ...] = CROWD_JAILS) -> Sandbox:
    crowd = tuple(SandboxJail(name, "sshd", f"{name}.log", actions=False) for name in jails)
    base = tuple(j for j in DEFAULT_JAILS if j.enabled and j.name not in jails)
    return Sandbox(root, jails=base + crowd)


def bips_count(box: Sandbox) -> int:
    con = sqlite3.connect(f"file:{box.dbfile}?mode=ro", uri=True)
    try:
        return con.execute("SELECT COUNT(*) FROM bips").fetchone()[0]
    finally:
        con.close()


def fill(box: Sandbox, total: int, jails: tuple[str, ...] = CROWD_JAILS,
         first: dict[str, list[str]] | None = None, timeout: float = 300) -> int:
    """Ban ``total`` IPs spread evenly over ``jails``: ``first[jail]`` before
    the numbered ones. Returns the number of live bans fail2ban holds."""
    client = Fail2banClient(str(box.socket), timeout=120)
    net = ipaddress.ip_network("10.0.0.0/8")
    per_jail = total // len(jails)
    for n, jail in enumerate(jails):
        ips = list(dict.fromkeys((first or {}).get(jail, [])))[:per_jail]
        start = n * per_jail + 1
        ips += [str(net[start + i]) for i in range(per_jail - len(ips))]
        for i in range(0, len(ips), BATCH):
            client.ban(jail, ips[i:i + BATCH])
    banned = sum(j.currently_banned for j in client.overview().jails)
    deadline = time.monotonic() + timeout
    while bips_count(box) < banned and time.monotonic() < deadline:
        time.sleep(0.2)
    return banned


def empty(box: Sandbox) -> None:
    Fail2banClient(str(box.socket), timeout=120).unban_all()
