"""Archive the bans of a blocklist import directly, batch by batch.

Reading them back from fail2ban's database (``archive.sync``) means waiting
for fail2ban to write them: it writes one row per ban, one commit each, in a
thread behind ``banip`` (seconds behind on 20,000 IPs). The importer knows
everything the row holds without that:

- **which IPs are new**: the jail's ban list is read once before banning; a
  batch's new IPs are the ones not in it. ``banip`` answers how many were
  newly banned; when that count differs (someone else banned or unbanned one
  of them meanwhile, or an address is ignored) the batch is left to the sync
  (:func:`sync_fallback`), which reads fail2ban's own rows;
- **the key** ``(jail, ip, banned_at)``: the IP is sent in the text
  fail2ban stores (:func:`fail2ban_text`); fail2ban stamps every ticket of one
  ``banip`` with the one ``time.time()`` it takes when the command arrives and
  stores it rounded to whole seconds. The importer sends a batch only when
  its clock is not within ``ROUNDING_EDGE`` before a half second, so
  ``round(sent)`` is fail2ban's value unless the command takes longer than
  that to arrive. If it does, the row is one second off; the next sync
  *adopts* it (``archive._adopt_manual``: same jail and IP within
  ``MANUAL_MATCH_SLACK``, moved to fail2ban's key), so there is never a twin;
- **bantime** is the jail's (``get JAIL bantime``), ban count 1, no failures,
  no matches: what fail2ban stores for a ``banip``. With
  ``bantime.increment`` fail2ban computes bantime and count per IP, so such
  jails use the sync;
- **origin** "blocklist", for any target jail (the sync alone would call
  these bans "manual" outside the ``blocklist-import`` jail);
- **country** from geo, looked up while fail2ban bans the batch.

The scheduled sync later reads fail2ban's rows for the same bans; they hit
the unique key (``ON CONFLICT DO NOTHING``) and keep origin and country.
If the sync got to a row first (a slow batch with actions: fail2ban writes
rows while it still runs actions), the importer marks that row instead of
adding one.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from jails.constants import BLOCKLIST_JAIL, MANUAL_MATCH_SLACK, Origin
from jails.models import BanEvent

# Time a banip needs to reach fail2ban's handler (socket, unpickling 5,000
# strings, a GIL hand-over in fail2ban): a batch is not sent in the last
# ROUNDING_EDGE seconds before a half second, so rounding the send time
# gives fail2ban's rounded ban time.
ROUNDING_EDGE = 0.15


def fail2ban_text(ip: str) -> str:
    """The text fail2ban stores for a canonical address (``IPAddr.ntoa``):
    an IPv4-mapped IPv6 address becomes its IPv4 address, other IPv6 text
    comes from ``inet_ntop`` (e.g. ``::1.2.3.4`` where Python writes
    ``::102:304``). IPv4 text is the same on both sides."""
    if ":" not in ip:
        return ip
    address = ipaddress.IPv6Address(ip)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return socket.inet_ntop(socket.AF_INET6, address.packed)


def wait_off_rounding_edge(clock=time.time, sleep=time.sleep) -> float:
    """Return the send time (epoch seconds), sleeping first if the clock is
    within ROUNDING_EDGE before a half second (at most that long)."""
    now = clock()
    fraction = now % 1.0
    if 0.5 - ROUNDING_EDGE <= fraction < 0.5:
        sleep(0.5 - fraction + 0.002)
        now = clock()
    return now


def ban_time_of(sent: float) -> datetime:
    """fail2ban's stored ``timeofban`` for a banip sent at ``sent``."""
    return datetime.fromtimestamp(round(sent), UTC)


def rows_for(ips: list[str], jail: str, banned_at: datetime, bantime: int,
             countries: dict[str, str]) -> list[list]:
    """Archive values in the column order of ``archive._insert``."""
    return [[ip, jail, banned_at, bantime, 1, 0, "", Origin.BLOCKLIST, countries.get(ip)]
            for ip in ips]


def store(ips: list[str], jail: str, banned_at: datetime, bantime: int,
          countries: dict[str, str]) -> int:
    """Write one batch's archive rows; returns how many rows are new. Rows
    the sync already copied for these bans (same jail and IP within
    MANUAL_MATCH_SLACK; "manual" as the sync sees a banip, "blocklist" in
    the blocklist jail) are marked "blocklist" instead."""
    from jails.archive.sync import _insert

    if not ips:
        return 0
    with transaction.atomic():
        near = BanEvent.objects.filter(
            jail=jail, banned_at__gte=banned_at - MANUAL_MATCH_SLACK,
            banned_at__lte=banned_at + MANUAL_MATCH_SLACK)
        if jail == BLOCKLIST_JAIL:
            # The sync's rows are "blocklist" here, like this import's own.
            near = near.filter(ip__in=ips)
        else:
            # By jail, time and origin (an index range, nearly always empty),
            # not by 5,000 IPs in an IN list.
            near = near.filter(origin=Origin.MANUAL)
        copied = set(near.values_list("ip", flat=True).order_by()).intersection(ips)
        if copied:
            near.filter(ip__in=copied, origin=Origin.MANUAL).update(origin=Origin.BLOCKLIST)
            ips = [ip for ip in ips if ip not in copied]
        return _insert(rows_for(ips, jail, banned_at, bantime, countries), timezone.now())


def sync_fallback(jail: str, ips: list[str], expected: int, since: datetime,
                  wait: float = 5.0) -> None:
    """Batches whose new IPs were not known exactly: copy fail2ban's own
    rows (``archive.sync``; fail2ban may write them a moment after banip
    answers, so sync again briefly until they are there) and mark the ones
    of this import "blocklist". Whatever is still missing arrives with the
    next scheduled sync, as "manual" outside the blocklist jail."""
    from jails.archive import sync as archive

    since = since.replace(microsecond=0)
    deadline = time.monotonic() + wait
    while True:
        archive.sync()
        done = set()
        for start in range(0, len(ips), 5000):
            chunk = ips[start:start + 5000]
            rows = BanEvent.objects.filter(jail=jail, ip__in=chunk, banned_at__gte=since)
            rows.filter(origin=Origin.MANUAL).update(origin=Origin.BLOCKLIST)
            done.update(rows.values_list("ip", flat=True))
        if len(done) >= expected or time.monotonic() >= deadline:
            return
        time.sleep(0.25)
