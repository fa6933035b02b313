"""fail2ban's live bans, read at the cost of what a page shows.

A page asks :func:`read` for the IPs it shows: one ``status`` (the running
jails), one ``get dbfile`` (both taken from the status bar's overview when
the page has it), and one indexed query of fail2ban's ``bips``
table for those IPs (read-only, :mod:`jails.fail2ban.database`). Whatever
fail2ban holds (50 or 50,000 bans), that is two socket commands and one
small SQL query. Never ``get JAIL banip --with-time`` on a page view: it
ships every ban of the jail (0.4 s at 50,000).

Fresh on every request: a ban or unban made anywhere (BanGUI,
``fail2ban-client``, fail2ban's own filter) is in ``bips`` the moment it is
made, and expiry follows from the time. No page view writes.

When BanGUI may not read fail2ban's database (permissions, ``dbfile =
:memory:``), the live columns say "unknown" with the reason: the only other
source is the socket, whose per-IP answers cost every ban of every jail
inside fail2ban (its ``banned IP`` builds the jail's whole list). fail2ban
down is a state too (``reachable`` False), never an error. See
docs/archive.md, "Live state".
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from jails.constants import MANUAL_MATCH_SLACK
from jails.fail2ban import Fail2banClient, Fail2banError, database
from jails.fail2ban.results import BanEntry, Overview
from jails.live import link

MANUAL_JAIL = "manual"  # BanGUI's own jail (jails.config.jail.BANGUI_JAILS)
SETTLE_SECONDS = 2.0
SETTLE_INTERVAL = 0.05


@dataclass
class LiveState:
    """What fail2ban says now about some IPs. ``reachable`` False: fail2ban
    did not answer; ``known`` False: it answered but its bans could not be
    read (``note`` says why)."""

    reachable: bool
    jails: list[str] = field(default_factory=list)
    bans: dict[tuple[str, str], BanEntry] = field(default_factory=dict)
    known: bool = False
    error: str = ""
    note: str = ""

    def default_jail(self) -> str:
        if MANUAL_JAIL in self.jails:
            return MANUAL_JAIL
        return self.jails[0] if self.jails else ""

    def jails_of(self, ip: str) -> list[tuple[str, BanEntry]]:
        return sorted(((jail, entry) for (jail, banned_ip), entry in self.bans.items()
                       if banned_ip == ip), key=lambda item: item[0])

    def row_state(self, jail: str, ip: str, banned_at: datetime, bantime: int | None,
                  unbanned_at: datetime | None, unbanned_by: str | None,
                  now: datetime) -> dict:
        """The "Now" cell of one archived ban."""
        if not self.reachable or not self.known:
            return {"state": "unknown", "why": self.note}
        entry = self.bans.get((jail, ip))
        if entry is not None and (entry.banned_at is None
                                  or abs(entry.banned_at - banned_at) <= MANUAL_MATCH_SLACK):
            if entry.permanent:
                return {"state": "banned", "permanent": True}
            return {"state": "banned", "left": time_left(entry, now)}
        if unbanned_at is not None:
            return {"state": "unbanned", "by": unbanned_by}
        if bantime is not None and bantime >= 0 and banned_at + timedelta(seconds=bantime) <= now:
            return {"state": "expired"}
        if entry is not None:  # a newer ban of the same IP in this jail replaced it
            return {"state": "replaced"}
        # Time left, no BanGUI unban, yet fail2ban no longer holds it: lifted
        # by fail2ban-client, a stopped or removed jail, or a restart.
        return {"state": "lifted", "running": jail in self.jails}


def time_left(entry: BanEntry | None, now: datetime | None = None) -> timedelta | None:
    """Remaining ban time of a live ban; None when not banned or permanent."""
    if entry is None or entry.ends_at is None:
        return None
    return max(entry.ends_at - (now or timezone.now()), timedelta(0))


def read(ips: Iterable[str], *, jails: Iterable[str] | None = None,
         client: Fail2banClient | None = None, overview: Overview | None = None) -> LiveState:
    """The running jails and the live bans of ``ips`` (in ``jails``, default
    every running jail). Never raises for fail2ban's sake. ``overview``:
    what fail2ban said earlier in this request (the status bar's
    :func:`jails.live.status.read_state`), whose jails and ``dbfile`` are
    taken instead of asking again: a page then talks to fail2ban once."""
    if overview is not None:
        running, dbfile = [j.name for j in overview.jails], overview.dbfile
    else:
        try:
            running, dbfile = (client or link.client(connect_retries=0)).jails_and_dbfile()
        except Fail2banError as exc:
            return LiveState(False, error=str(exc))
    wanted = running if jails is None else [j for j in jails if j in running]
    if dbfile is None:
        return LiveState(True, running, note="fail2ban keeps no ban database "
                         "(dbfile is None or :memory:), so live bans cannot be read per IP")
    try:
        con = database.connect(dbfile)
    except database.Unreadable as exc:
        return LiveState(True, running, note=f"{exc}; BanGUI needs read access to it")
    try:
        bans = database.live_bans(con, ips, wanted)
    except database.Error as exc:
        return LiveState(True, running, note=f"cannot read fail2ban's live bans: {exc}")
    finally:
        con.close()
    return LiveState(True, running, bans, known=True)


def settle(jail: str, ips: Iterable[str], client: Fail2banClient | None = None,
           timeout: float = SETTLE_SECONDS) -> dict[tuple[str, str], BanEntry]:
    """The live bans of ``ips`` in ``jail`` once fail2ban has written them
    all to ``bips``, or what is there after ``timeout``. fail2ban writes a
    new ban to its database from its observer thread, a moment after
    ``banip`` answered: without this wait a page rendered right after a ban
    would not find it yet."""
    ips = list(ips)
    deadline = time.monotonic() + timeout
    while True:
        state = read(ips, jails=[jail], client=client)
        if not state.known or len(state.bans) >= len(set(ips)) or time.monotonic() >= deadline:
            return state.bans
        time.sleep(SETTLE_INTERVAL)


def entry(jail: str, ip: str, client: Fail2banClient | None = None) -> BanEntry | None:
    """The live ban of ``ip`` in ``jail`` (None: not banned, or unknown)."""
    return read([ip], jails=[jail], client=client).bans.get((jail, ip))
