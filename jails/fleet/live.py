"""Every node's live bans, published for the pages of the whole fleet
(docs/fleet.md, "Live state of other nodes").

The web tier never talks to another node's fail2ban, yet a fleet's pages
need what each node's fail2ban holds now: the dashboard's "Now" column and
its Unban button for a row of node b, b's page listing its banned
addresses. So each node's worker, on its tick (``jails.tasks.node_tick``,
every ``BANGUI_NODE_TICK_SECONDS``), compares its fail2ban's live bans — the
``bips`` table the local pages read too (jails.fail2ban.database) — with
what it last published, and writes only the difference to ``LiveBan``.
One cheap fingerprint query of ``bips`` tells it when nothing changed (the
usual case: it then only notes the time in ``LiveBanState``).

Readers (:func:`states`) get one :class:`~jails.live.state.LiveState` per
node, the same shape as this host's, so a row of node b is judged by the
same code as a row of this host. A node that is down, whose fail2ban did
not answer, or whose worker has not checked for ``STALE_AFTER`` gives
"unknown" with the reason: never yesterday's bans as today's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jails.fail2ban import Fail2banClient, Fail2banError, database
from jails.fail2ban.results import BanEntry
from jails.fleet.models import LiveBan, LiveBanState
from jails.live import link
from jails.live.state import LiveState
from nodes.models import Node

STALE_AFTER = timedelta(seconds=60)  # twelve ticks missed: say "unknown"
WRITE_BATCH = 5000  # rows per transaction of a publish



def _note(node: str, known: bool, note: str = "", fingerprint: str = "") -> None:
    LiveBanState.objects.update_or_create(
        node=node, defaults={"checked_at": timezone.now(), "known": known, "note": note[:300],
                             "fingerprint": fingerprint})


def _row(node: str, jail: str, ip: str, timeofban: float, bantime: int,
         bancount: int) -> LiveBan:
    banned_at = datetime.fromtimestamp(timeofban, UTC)
    ends_at = None if bantime < 0 else banned_at + timedelta(seconds=bantime)
    return LiveBan(node=node, jail=jail, ip=ip, banned_at=banned_at, bantime=bantime,
                   ends_at=ends_at, bancount=bancount)


def publish(client: Fail2banClient | None = None, node: str | None = None) -> str:
    """Bring this node's ``LiveBan`` rows in line with its fail2ban. Returns
    what it did, in words. Also a node alone in the database publishes: the
    web tier may run on another host under another name (a web-only host
    in front of one fail2ban host), and the node cannot know.

    What was published is the database's, not this process's: the rows
    themselves, and the fingerprint they were read under
    (``LiveBanState.fingerprint``). fail2ban is read first, then short
    transactions write the difference."""
    node = node or settings.BANGUI_NODE
    client = client or link.client(connect_retries=0)
    try:
        running = sorted(client.jail_names())
        dbfile = client.dbfile()
    except Fail2banError as exc:
        _note(node, False, f"fail2ban on {node} does not answer: {exc}")
        return "fail2ban does not answer: live bans unknown"
    if dbfile is None:
        _note(node, False, f"fail2ban on {node} keeps no ban database")
        return "no ban database: live bans unknown"
    try:
        con = database.connect(dbfile)
    except database.Unreadable as exc:
        _note(node, False, str(exc))
        return "ban database unreadable: live bans unknown"
    try:
        fingerprint = repr((running, database.live_fingerprint(con)))[:200]
        check = LiveBanState.objects.filter(node=node).first()
        if check is not None and check.known and check.fingerprint == fingerprint:
            _note(node, True, fingerprint=fingerprint)
            return "unchanged"
        rows = database.all_live_bans(con)
    except database.Error as exc:
        _note(node, False, f"cannot read fail2ban's live bans: {exc}")
        return "ban database unreadable: live bans unknown"
    finally:
        con.close()
    wanted = set(running)
    current = {(jail, ip): (round(float(tob), 6), int(bt), int(bc or 1))
               for jail, ip, tob, bt, bc in rows if jail in wanted}
    # Only this node's worker writes its rows: read what it published, then
    # write the difference in transactions of at most WRITE_BATCH rows (a
    # first publish of 50,000 bans held SQLite's write lock for all of them
    # at once, and every other writer waited behind it). Readers may see a
    # publish half done for a moment, as they see fail2ban itself change.
    previous = {(b.jail, b.ip): (round(b.banned_at.timestamp(), 6), b.bantime, b.bancount)
                for b in LiveBan.objects.filter(node=node).only(
                    "jail", "ip", "banned_at", "bantime", "bancount")}
    gone = [key for key, value in previous.items() if current.get(key) != value]
    new = [key for key, value in current.items() if previous.get(key) != value]
    for start in range(0, len(gone), WRITE_BATCH):
        by_jail: dict[str, list[str]] = {}
        for jail, ip in gone[start:start + WRITE_BATCH]:
            by_jail.setdefault(jail, []).append(ip)
        with transaction.atomic():
            for jail, ips in by_jail.items():
                for first in range(0, len(ips), 500):
                    LiveBan.objects.filter(node=node, jail=jail,
                                           ip__in=ips[first:first + 500]).delete()
    for start in range(0, len(new), WRITE_BATCH):
        LiveBan.objects.bulk_create([_row(node, jail, ip, *current[(jail, ip)])
                                     for jail, ip in new[start:start + WRITE_BATCH]],
                                    batch_size=2000)
    # The fingerprint last: a publish cut short is compared whole next time.
    _note(node, True, fingerprint=fingerprint)
    return f"{len(current)} live bans: {len(new)} written, {len(gone)} removed"


def forget(node: str | None = None) -> None:
    """Make the next publish compare the rows whole, even when fail2ban's
    fingerprint did not move (tests; rows written by someone else)."""
    checks = LiveBanState.objects.all() if node is None else LiveBanState.objects.filter(
        node=node)
    checks.update(fingerprint="")


def states(nodes: Iterable[str], ips: Iterable[str] | None = None,
           now: datetime | None = None) -> dict[str, LiveState]:
    """A LiveState per node in ``nodes``, from what they published: the
    live bans of ``ips`` (None: no bans, only the node's state)."""
    names = sorted(set(nodes))
    if not names:
        return {}
    now = now or timezone.now()
    rows = {row.name: row for row in Node.objects.filter(name__in=names)}
    checks = {c.node: c for c in LiveBanState.objects.filter(node__in=names)}
    out: dict[str, LiveState] = {}
    trusted = []
    for name in names:
        row, check = rows.get(name), checks.get(name)
        if row is None:
            out[name] = LiveState(False, note=f"node {name} is not registered")
            continue
        jails = list(row.jails or [])
        if not row.is_up(now):
            out[name] = LiveState(False, note=f"node {name} is down")
        elif check is None or now - check.checked_at > STALE_AFTER:
            out[name] = LiveState(True, jails,
                                  note=f"node {name} has not published its live bans lately")
        elif not check.known:
            out[name] = LiveState(True, jails, note=check.note)
        else:
            out[name] = LiveState(True, jails, known=True)
            trusted.append(name)
    wanted = sorted(set(ips or ()))
    if trusted and wanted:
        for start in range(0, len(wanted), 500):
            for ban in LiveBan.objects.filter(node__in=trusted, ip__in=wanted[start:start + 500]):
                if ban.ends_at is None or ban.ends_at > now:
                    out[ban.node].bans[(ban.jail, ban.ip)] = BanEntry(
                        ban.ip, ban.banned_at, ban.bantime, ban.ends_at)
    return out


def banned(node: str, query: str = "", now: datetime | None = None):
    """A node's live bans, newest first (a queryset: the page pages it);
    ``query``: part of the address."""
    now = now or timezone.now()
    qs = LiveBan.objects.filter(node=node).exclude(ends_at__lte=now)
    if query:
        qs = qs.filter(ip__contains=query.strip().lower())
    return qs.order_by("-banned_at", "jail", "ip")
