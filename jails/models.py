"""The ban archive: BanGUI's own, long-lived copy of fail2ban's ban history."""

from __future__ import annotations

import ipaddress
import socket
from datetime import timedelta

from django.db import models
from django.utils import timezone

from jails.constants import Origin
from nodes import nodename


def ip_sort_key(ip: str) -> str:
    """32 hex digits that sort as the addresses do, numerically: IPv4 as its
    IPv4-mapped IPv6 form (so 9.0.0.1 < 10.0.0.1 and every IPv4 sorts next
    to the others), IPv6 as itself; a banned network ("203.0.113.0/24") as
    its network address. "" for text that is no address."""
    try:
        address = ipaddress.ip_address(str(ip).strip().split("/", 1)[0])
    except ValueError:
        return ""
    if address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    return f"{int(address):032x}"


_V4_MAPPED = "00000000000000000000ffff"  # ip_sort_key's prefix of an IPv4 address


def fast_ip_key(ip: str) -> str:
    """``ip_sort_key(ip)``, the same text, in a fraction of its time for a
    plain IPv4 address (``inet_pton`` takes exactly the dotted quads that
    :mod:`ipaddress` takes: four decimal octets up to 255, no leading
    zero); everything else goes through ``ip_sort_key`` itself. A
    million-row first sync spent 10-13 s in :mod:`ipaddress`."""
    try:
        return _V4_MAPPED + socket.inet_pton(socket.AF_INET, ip).hex()
    except (OSError, ValueError, TypeError):
        return ip_sort_key(ip)


class BanEvent(models.Model):
    """One ban of one IP in one jail, as fail2ban recorded it (or as BanGUI
    made it, see :func:`jails.archive.sync.record_manual`).

    fail2ban forgets its history after ``dbpurgeage`` (Debian: one day) and
    deletes an IP's history rows when it is unbanned by hand; this table keeps
    every ban for ``BANGUI_ARCHIVE_RETENTION_DAYS``. ``node`` is the fleet
    node whose fail2ban made (or was told to make) the ban (docs/fleet.md);
    ``(node, jail, ip, banned_at)`` is unique, so re-running the sync over
    rows it has already copied inserts nothing. Whether an IP is *still*
    banned (and for how long) is live state: ask fail2ban
    (``banned_with_time``), not this table.

    ``ip`` is text, not GenericIPAddressField: fail2ban stores the canonical
    text form, grouping and equality on short text are fast on both SQLite and
    PostgreSQL, and PostgreSQL's ``inet`` would need ``HOST()`` casts (which
    defeat indexes) for the prefix search the ban table offers.
    """

    node = models.CharField(max_length=63, default=nodename.local,
                            help_text="The node whose fail2ban holds the ban.")
    ip = models.CharField(max_length=45)
    # The ban table's IP sort: numeric for IPv4 and IPv6 (ip_sort_key), set
    # by save() and by the archive's raw inserts (archive._insert).
    # NULL until set: adding a NULL column is a plain ALTER TABLE on SQLite,
    # where a column with a default would rebuild the table (and drop the
    # rollup's triggers with it).
    ip_key = models.CharField(max_length=32, null=True, blank=True,  # noqa: DJ001
                              editable=False)
    jail = models.CharField(max_length=64)
    banned_at = models.DateTimeField(help_text="Start of the ban (UTC).")
    bantime = models.BigIntegerField(help_text="Seconds; -1 means permanent.")
    ban_count = models.PositiveIntegerField(default=1)
    failures = models.PositiveIntegerField(default=0)
    matches = models.TextField(
        blank=True, default="",
        help_text="Matched log lines, one per line (bounded, see jails.constants).",
    )
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.DETECTED)
    # NULL (not "") means "not resolved yet": the brief's contract with geo
    # and the UI, and what the country filter's "unknown" matches.
    country_code = models.CharField(  # noqa: DJ001
        max_length=2, null=True, blank=True,
        help_text="ISO 3166-1 alpha-2; empty until geo has resolved the IP.",
    )
    actor = models.CharField(  # noqa: DJ001 (NULL: not made through BanGUI)
        max_length=150, null=True, blank=True,
        help_text="Username, for bans made through BanGUI.",
    )
    unbanned_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when unbanned through BanGUI.",
    )
    unbanned_by = models.CharField(max_length=150, null=True, blank=True)  # noqa: DJ001
    # A shared ban (origin "shared"): the node whose ban this one copies.
    # NULL, not "": adding a nullable column keeps SQLite's table (and the
    # rollup's triggers) as they are.
    shared_from = models.CharField(max_length=63, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "jail", "ip", "banned_at"],
                                    name="banevent_unique_node_ban"),
        ]
        indexes = [
            models.Index(fields=["banned_at"], name="banevent_time"),
            models.Index(fields=["jail", "banned_at"], name="banevent_jail_time"),
            # ip: the world map counts distinct IPs per country from this
            # index alone (docs/geo.md, "World map").
            models.Index(fields=["country_code", "banned_at", "ip"],
                         name="banevent_country_time_ip"),
            models.Index(fields=["origin", "banned_at"], name="banevent_origin_time"),
            models.Index(fields=["ip", "banned_at"], name="banevent_ip_time"),
            # Covering for what short windows count from the archive (24 h
            # and the partial edge days of longer ones: per hour, per jail,
            # per country, distinct IPs): an index-only range instead of a
            # table lookup per ban (35 -> 9 ms of SQL per 24 h dashboard at
            # a million bans, SQLite).
            models.Index(fields=["banned_at", "jail", "country_code", "origin", "ip"],
                         name="banevent_time_cover"),
            # The ban table sorted by IP, numerically (see ip_key).
            models.Index(fields=["ip_key", "banned_at"], name="banevent_ipkey_time"),
            # One node's bans in a window (the node scope of every page).
            models.Index(fields=["node", "banned_at"], name="banevent_node_time"),
        ]
        ordering = ["-banned_at", "-id"]

    def __str__(self) -> str:
        return f"{self.ip} in {self.jail} at {self.banned_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        self.ip_key = ip_sort_key(self.ip)
        if kwargs.get("update_fields") is not None and "ip" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "ip_key"}
        super().save(*args, **kwargs)

    @property
    def permanent(self) -> bool:
        return self.bantime < 0

    @property
    def is_range(self) -> bool:
        """A ban of a network ("203.0.113.0/24"), not of one address."""
        return "/" in self.ip

    @property
    def ends_at(self):
        """When the ban ends (or ended) by its bantime; None when permanent."""
        if self.bantime < 0:
            return None
        return self.banned_at + timedelta(seconds=self.bantime)

    @property
    def match_lines(self) -> list[str]:
        return self.matches.splitlines() if self.matches else []


class BanDay(models.Model):
    """Bans per UTC day and origin, counted twice: once per jail (``kind``
    "jail", ``key`` the jail) and once per country (``kind`` "country",
    ``key`` the ISO code, "" when not resolved). A rollup of BanEvent kept
    exact by database triggers (``jails/archive/rollup.py``), so the long-window
    charts, the map and the ban table's total read thousands of rows instead
    of every ban of the year. Never written by Django code.

    Two one-dimensional counts rather than one per (jail, country): a year
    of (day, jail, country, origin) keys is nearly as many rows as bans;
    (day, jail, origin) is at most 365 x jails x 3. Filters on jail *and*
    country together read the archive instead.
    """

    class Kind(models.TextChoices):
        JAIL = "jail"
        COUNTRY = "country"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    day = models.DateField()
    key = models.CharField(max_length=64, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    bans = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "day", "key", "origin"], name="banday_key"),
        ]
        indexes = [
            # covering: the sums read the index alone (SQLite), in day order
            models.Index(fields=["kind", "day", "key", "origin", "bans"], name="banday_sum"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.key or '??'} {self.origin}: {self.bans}"


class SyncState(models.Model):
    """Where the archive sync stopped in one fail2ban database file.

    The cursor is fail2ban's ``bans.rowid`` (insertion order) plus a
    fingerprint of the row at it: SQLite reuses the highest rowids after
    fail2ban deletes rows (a manual unban deletes that IP's history), and a
    changed or missing fingerprint makes the next run re-read recent rows
    (see ``jails/archive/sync.py`` and ``docs/archive.md``).
    """

    node = models.CharField(max_length=63, default=nodename.local,
                            help_text="The node whose fail2ban database this is.")
    db_path = models.CharField(max_length=1024)
    last_rowid = models.BigIntegerField(default=0)
    last_fingerprint = models.CharField(max_length=200, blank=True, default="")
    max_timeofban = models.BigIntegerField(
        default=0, help_text="Highest timeofban copied so far (epoch seconds).",
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_inserted = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        # Nodes on different hosts usually have the same path.
        constraints = [models.UniqueConstraint(fields=["node", "db_path"],
                                               name="syncstate_node_db")]

    def __str__(self) -> str:
        return f"{self.node}:{self.db_path} @ rowid {self.last_rowid}"


class ConfigVersion(models.Model):
    """One version of one fail2ban config file on one node (docs/config.md,
    "Config history"): written by the config transaction
    (``jails.config.files.apply``) wherever it runs, so a node's worker
    records its own saves; read by every web process from the shared
    database. ``text`` is the file's content after a change that took, or
    the content that was tried and did not take (``applied`` False: refused
    by the check, or written and rolled back); None: the file was absent."""

    SAVED, CREATED, RESTORED = "saved", "created", "restored"
    REFUSED, ROLLED_BACK = "refused", "rolled_back"
    FOUND, OUTSIDE = "found", "outside"
    KINDS = [(SAVED, "saved"), (CREATED, "created"), (RESTORED, "restored"),
             (REFUSED, "refused"), (ROLLED_BACK, "rolled back"),
             (FOUND, "as BanGUI found it"), (OUTSIDE, "changed outside BanGUI")]
    PASSED, FAILED, UNCHECKED = "passed", "failed", ""
    VERDICTS = [(PASSED, "passed"), (FAILED, "failed"), (UNCHECKED, "not checked")]

    node = models.CharField(max_length=63, default=nodename.local)
    path = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150, blank=True, default="")
    kind = models.CharField(max_length=12, choices=KINDS)
    applied = models.BooleanField(default=True,
                                  help_text="This content was on disk after the change.")
    verdict = models.CharField(max_length=8, choices=VERDICTS, blank=True, default="",
                               help_text="The check's verdict (fail2ban-client -t, the "
                                         "reload and its probe).")
    message = models.TextField(blank=True, default="")
    reason = models.CharField(max_length=300, blank=True, default="")
    text = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: absent, "": empty)
    sha256 = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["node", "path", "-id"], name="configversion_file")]

    def __str__(self) -> str:
        return f"{self.node}:{self.path} #{self.pk} {self.kind}"


# The fleet models live beside their code; importing them here registers
# them with the jails app. (Blocklists are an app of their own: blocklists/.)
from jails.fleet.models import LiveBan, LiveBanState, SharedBanRule, SharedBanState  # noqa: E402

__all__ = ["BanDay", "BanEvent", "ConfigVersion", "LiveBan", "LiveBanState", "SharedBanRule",
           "SharedBanState", "SyncState"]
