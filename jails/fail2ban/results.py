"""Typed results of fail2ban operations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ServerStatus:
    version: str
    jails: list[str]


@dataclass(frozen=True)
class JailStatus:
    name: str
    currently_failed: int
    total_failed: int
    file_list: list[str]
    currently_banned: int
    total_banned: int
    banned_ips: list[str] = field(repr=False)


@dataclass(frozen=True)
class BanEntry:
    ip: str
    banned_at: datetime | None
    bantime: int | None  # seconds; -1 means permanent
    ends_at: datetime | None

    @property
    def permanent(self) -> bool:
        return self.bantime is not None and self.bantime < 0


@dataclass(frozen=True)
class JailSettings:
    name: str
    bantime: int
    findtime: int
    maxretry: int
    backend: str | None
    log_paths: list[str]
    ignore_ips: list[str]
    ignore_self: bool
    actions: list[str]
    idle: bool | None = None


@dataclass(frozen=True)
class ServerSettings:
    loglevel: str
    logtarget: str
    dbfile: str | None
    dbpurgeage: int | None


@dataclass(frozen=True)
class Overview:
    """Everything the status bar shows, read in one connection; with the
    two settings a page's live columns and purge warning need, so a page
    asks fail2ban once (``dbfile`` None: no ban database, or ``:memory:``)."""

    version: str
    jails: list[JailStatus]
    dbfile: str | None = None
    dbpurgeage: int | None = None

    @property
    def currently_banned(self) -> int:
        return sum(j.currently_banned for j in self.jails)

    @property
    def total_banned(self) -> int:
        return sum(j.total_banned for j in self.jails)

    @property
    def currently_failed(self) -> int:
        return sum(j.currently_failed for j in self.jails)

    @property
    def total_failed(self) -> int:
        return sum(j.total_failed for j in self.jails)
