"""Choices and fixed values shared by the archive, its sync and the dashboard."""

from __future__ import annotations

from datetime import timedelta

from django.db import models


class Origin(models.TextChoices):
    """Where a ban came from."""

    DETECTED = "detected", "detected"  # fail2ban found failures in a log
    MANUAL = "manual", "manual"  # banned by hand (BanGUI, fail2ban-client)
    BLOCKLIST = "blocklist", "blocklist"  # imported from a blocklist source
    SHARED = "shared", "shared"  # applied from another node's ban (docs/fleet.md)


# The jail BanGUI provisions for blocklist imports; the sync marks its bans
# as Origin.BLOCKLIST without the importer having to say so.
BLOCKLIST_JAIL = "blocklist-import"
# The jail BanGUI provisions for shared bans (jails/fleet/shared.py); the sync
# marks its bans as Origin.SHARED.
SHARED_JAIL = "shared-bans"

# Matched log lines kept per ban. fail2ban itself keeps at most 10 lines per
# ban (Fail2BanDb.maxMatches); the byte caps keep one pathological line (or a
# changed fail2ban default) from bloating the archive.
MATCHES_MAX_LINES = 10
MATCHES_MAX_LINE_BYTES = 1024
MATCHES_MAX_BYTES = 4096


class Window(models.TextChoices):
    """Time windows of the dashboard."""

    DAY = "24h", "last 24 hours"
    WEEK = "7d", "last 7 days"
    MONTH = "30d", "last 30 days"
    YEAR = "365d", "last 365 days"


WINDOW_SPAN = {
    Window.DAY: timedelta(hours=24),
    Window.WEEK: timedelta(days=7),
    Window.MONTH: timedelta(days=30),
    Window.YEAR: timedelta(days=365),
}

# Chart bucket per window: (Trunc kind, bucket length). 6-hour buckets are
# folded from hourly SQL groups in Python; Django has no 6-hour Trunc.
WINDOW_BUCKET = {
    Window.DAY: ("hour", timedelta(hours=1)),
    Window.WEEK: ("hour", timedelta(hours=6)),
    Window.MONTH: ("day", timedelta(days=1)),
    Window.YEAR: ("week", timedelta(weeks=1)),
}

# Sortable ban-table columns (prefix "-" for descending).
BAN_TABLE_SORTS = (
    "banned_at", "ip", "jail", "country_code", "origin", "ban_count", "bantime", "failures",
)
BAN_TABLE_MAX_PER_PAGE = 500

# When the row at the sync cursor has vanished or changed (a manual unban in
# fail2ban deletes every history row of that jail+IP, and SQLite then reuses
# the highest rowids), the sync re-reads rows whose timeofban is within this
# span before its last successful run. Real bans reach fail2ban's db seconds
# after their timeofban (the time of the last failure), so a day is generous.
SYNC_REWIND_OVERLAP = timedelta(days=1)

# A BanGUI-made ban (recorded at once by record_manual) and the row the sync
# later reads for it may differ by a second: fail2ban's ``--with-time`` output
# truncates the ban time, its db rounds it. Within this distance they are one.
MANUAL_MATCH_SLACK = timedelta(seconds=5)
UNKNOWN_COUNTRY = "unknown"  # country filter value for "not resolved"
