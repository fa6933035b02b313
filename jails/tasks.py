"""django-q2 task bodies for the ban archive (declared in bangui/schedules.py).
Thin: the work is in :mod:`jails.archive.sync`; the return value is what
django-q2 stores as the task result."""

from __future__ import annotations

from jails.archive import sync as archive


def sync_archive() -> str:
    return str(archive.sync())


def purge_archive(retention_days: int | None = None) -> str:
    return f"purged {archive.purge(retention_days)} archived bans"
