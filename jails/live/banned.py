"""Currently banned IPs of one jail, a page at a time.

``status JAIL`` with 50,000 bans costs ~0.1 s and ``get JAIL banip
--with-time`` ~0.4 s, so listing a big jail over the socket on every page
view is too slow. fail2ban keeps its current bans in the ``bips`` table of
its sqlite db (a manual ``banip`` lands there at once; an unban deletes the
row), so pages read that table read-only, with SQL paging and search. When
fail2ban has no db (``dbfile = :memory:`` / None) or BanGUI may not read it,
the list comes from one socket read cached for a few seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.core.paginator import Page

from bangui.paging import Counted, page_of
from jails.fail2ban import Fail2banError, database, validation
from jails.live import link

PER_PAGE = 50
SOCKET_CACHE_SECONDS = 5


@dataclass(frozen=True)
class Ban:
    ip: str
    banned_at: datetime | None
    bantime: int | None
    bancount: int | None = None

    @property
    def permanent(self) -> bool:
        return self.bantime is not None and self.bantime < 0

    @property
    def ends_at(self) -> datetime | None:
        if self.banned_at is None or self.bantime is None or self.bantime < 0:
            return None
        return self.banned_at + timedelta(seconds=self.bantime)

    @property
    def seconds_left(self) -> int | None:
        end = self.ends_at
        if end is None:
            return None
        return max(0, int((end - datetime.now(UTC)).total_seconds()))


@dataclass(frozen=True)
class BannedIPs:
    page: Page  # of Ban
    source: str  # "db" or "socket"


def _dbfile() -> str | None:
    try:
        return link.client(connect_retries=0).dbfile()
    except Fail2banError:
        return None


def _from_db(dbfile: str, jail: str, query: str, page: int, per_page: int,
             total: int | None) -> BannedIPs:
    con = database.connect(dbfile)
    try:
        now = time.time()  # one instant for the count and the rows
        if total is None or query:
            total = database.count_banned(con, jail, query, now)

        def fetch(offset: int, limit: int) -> list[Ban]:
            return [Ban(e.ip, e.banned_at, e.bantime, count) for e, count
                    in database.banned_rows(con, jail, query, offset, limit, now)]

        return BannedIPs(page_of(Counted(total, fetch), page, per_page), "db")
    finally:
        con.close()


def _from_socket(jail: str, query: str, page: int, per_page: int) -> BannedIPs:
    key = f"bangui:banned:{link.socket_path()}:{jail}"
    entries = cache.get(key)
    if entries is None:
        entries = [Ban(e.ip, e.banned_at, e.bantime)
                   for e in link.client().banned_with_time(jail)]
        entries.sort(key=lambda b: (b.banned_at or datetime.min.replace(tzinfo=UTC)),
                     reverse=True)
        cache.set(key, entries, SOCKET_CACHE_SECONDS)
    if query:
        entries = [b for b in entries if query in b.ip]
    return BannedIPs(page_of(entries, page, per_page), "socket")


def banned_page(jail: str, query: str = "", page: int | str = 1, per_page: int = PER_PAGE, *,
                total: int | None = None) -> BannedIPs:
    """One page of the jail's current bans, newest first; ``query`` is a
    substring of the IP; ``total`` the jail's "Currently banned" when the
    caller read it (saves a count over every live ban). Raises
    Fail2banError only on the socket fallback."""
    jail = validation.jail_name(jail)
    query = query.strip()[:64]
    dbfile = _dbfile()
    if dbfile:
        try:
            return _from_db(dbfile, jail, query, page, per_page, total)
        except (database.Unreadable, database.Error):
            pass  # unreadable (permissions, locked, old schema): use the socket
    return _from_socket(jail, query, page, per_page)


def forget_cached(jail: str) -> None:
    """Drop the socket-fallback cache after a ban or unban in this process."""
    cache.delete(f"bangui:banned:{link.socket_path()}:{jail}")
