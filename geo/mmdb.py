"""The local MaxMind DB resolver: a country file and an optional ASN file.

Reads any MMDB whose records carry a country code in one of the shapes in use:
MaxMind GeoIP2/GeoLite2 Country and City (``country.iso_code``), the bundled
ip-location-db file and DB-IP lite (``country_code``) and ipinfo's free
country database (``country``). ASN and organisation come from a GeoLite2-ASN
file (``autonomous_system_number``/``_organization``) or from the country
file itself when it carries ``asn``/``as_name``.

Readers are memory-mapped and read-only, so lookups are safe from page views.
A file replaced on disk (``manage.py geoip_update``) is picked up within
``RELOAD_CHECK_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import maxminddb
from django.conf import settings

from geo.result import SOURCE_MMDB, GeoResult, make_result

logger = logging.getLogger(__name__)

BUNDLED_DB = Path(__file__).resolve().parent / "data" / "geo-whois-asn-country.mmdb"
RELOAD_CHECK_SECONDS = 60.0
# Any public address a country database must know; used to validate files.
PROBE_IP = "8.8.8.8"


class MmdbError(Exception):
    """A database file is missing, unreadable or does not answer lookups."""


def country_db_path() -> Path:
    """BANGUI_GEOIP_PATH if set; else a GeoLite2 file fetched by
    ``geoip_update`` into the data directory; else the bundled file."""
    if settings.GEOIP_PATH:
        return Path(settings.GEOIP_PATH)
    downloaded = Path(settings.GEOIP_DOWNLOAD_DIR) / f"{settings.GEOIP_EDITION}.mmdb"
    return downloaded if downloaded.exists() else BUNDLED_DB


def asn_db_path() -> Path | None:
    if settings.GEOIP_ASN_PATH:
        return Path(settings.GEOIP_ASN_PATH)
    downloaded = Path(settings.GEOIP_DOWNLOAD_DIR) / f"{settings.GEOIP_ASN_EDITION}.mmdb"
    return downloaded if downloaded.exists() else None


def country_code_of(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    country = record.get("country")
    if isinstance(country, dict):
        code = country.get("iso_code")
    elif isinstance(country, str):
        code = country
    else:
        code = record.get("country_code")
    if not code or not isinstance(code, str) or code == "None":
        # GeoLite2 leaves some anycast/satellite networks to registered_country.
        registered = record.get("registered_country")
        code = registered.get("iso_code") if isinstance(registered, dict) else None
    return code if isinstance(code, str) and len(code) == 2 else None


def asn_of(record: Any) -> tuple[int | None, str | None]:
    if not isinstance(record, dict):
        return None, None
    number = record.get("autonomous_system_number", record.get("asn"))
    org = record.get("autonomous_system_organization") or record.get("as_name")
    if isinstance(number, str):
        number = number.upper().removeprefix("AS")
        number = int(number) if number.isdigit() else None
    return (number if isinstance(number, int) else None), (org if isinstance(org, str) else None)


def open_reader(path: Path | str) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise MmdbError(f"cannot open {path}: {exc}") from exc


def validate(path: Path | str, *, kind: str = "country") -> str:
    """Open ``path`` and look up a well-known address. Returns the database
    type from its metadata; raises MmdbError when the file is not usable."""
    reader = open_reader(path)
    try:
        record = reader.get(PROBE_IP)
        found = asn_of(record)[0] if kind == "asn" else country_code_of(record)
        ok = found is not None
        if not ok:
            raise MmdbError(f"{path} opens but has no {kind} for {PROBE_IP}")
        return str(reader.metadata().database_type)
    except (ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise MmdbError(f"{path} is corrupt: {exc}") from exc
    finally:
        reader.close()


class _ReloadingReader:
    """One MMDB file, reopened when the file on disk changes."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._reader = open_reader(path)
        self._stat = self._file_id()
        self._next_check = clock() + RELOAD_CHECK_SECONDS

    def _file_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def maybe_reload(self) -> None:
        now = self._clock()
        if now < self._next_check:
            return
        with self._lock:
            self._next_check = now + RELOAD_CHECK_SECONDS
            current = self._file_id()
            if current is None or current == self._stat:
                return
            try:
                fresh = open_reader(self.path)
            except MmdbError as exc:
                logger.warning("keeping the old geo database: %s", exc)
                return
            old, self._reader, self._stat = self._reader, fresh, current
        logger.info("geo database reloaded from %s", self.path)
        old.close()

    @property
    def reader(self) -> maxminddb.Reader:
        return self._reader

    def close(self) -> None:
        self._reader.close()


class MmdbResolver:
    """Country (and ASN) from local MMDB files. Never touches the network."""

    source = SOURCE_MMDB
    remote = False

    def __init__(
        self,
        path: Path | str,
        asn_path: Path | str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._country = _ReloadingReader(Path(path), clock)
        self._asn = _ReloadingReader(Path(asn_path), clock) if asn_path else None

    @property
    def path(self) -> Path:
        return self._country.path

    def resolve(self, ips: Iterable[str]) -> dict[str, GeoResult | None]:
        """A result for every address: the country, or None when the file
        has no record for it."""
        self._country.maybe_reload()
        get = self._country.reader.get
        asn_get = None
        if self._asn is not None:
            self._asn.maybe_reload()
            asn_get = self._asn.reader.get
        out: dict[str, GeoResult | None] = {}
        for ip in ips:
            try:
                record = get(ip)
            except ValueError:
                out[ip] = None
                continue
            code = country_code_of(record)
            if code is None:
                out[ip] = None
                continue
            asn, org = asn_of(record)
            if asn_get is not None and asn is None:
                asn, org = asn_of(asn_get(ip))
            out[ip] = make_result(ip, code, SOURCE_MMDB, asn=asn, org=org)
        return out

    def close(self) -> None:
        self._country.close()
        if self._asn is not None:
            self._asn.close()
