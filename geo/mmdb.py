"""The local MaxMind DB resolver: a country file and an optional ASN file.

Reads any MMDB whose records carry a country code in one of the shapes in use:
MaxMind GeoIP2/GeoLite2 Country and City (``country.iso_code``), the bundled
ip-location-db file and DB-IP lite (``country_code``) and ipinfo's free
country database (``country``). ASN and organisation come from the country
file itself when it carries them (``asn``/``as_name``), else from the ASN
file: a GeoLite2-ASN file when one is configured or downloaded, else the
bundled free one (``geo/data/asn.mmdb``, built by scripts/build_asn_db.py),
both with ``autonomous_system_number``/``_organization``.

A file whose metadata names a MaxMind type (GeoLite2-*, GeoIP2-*) is read
with MaxMind's ``geoip2`` reader (``.country()``, ``.city()``, ``.asn()``);
every other file (the bundled ones, DB-IP, ipinfo) with the plain
``maxminddb`` reader, whose records are dicts in their own shapes (geoip2
refuses them: its type check wants a MaxMind database type).

Readers are memory-mapped and read-only, so lookups are safe from page views.
A file replaced on disk (``manage.py geoip_update``) is picked up within
``RELOAD_CHECK_SECONDS``. The ASN file is optional: missing or corrupt, it
is logged and the ASN stays unknown (the country still resolves) until a
usable file appears at its path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb
from django.conf import settings

from geo.result import SOURCE_MMDB, GeoResult, make_result

logger = logging.getLogger(__name__)

BUNDLED_DB = Path(__file__).resolve().parent / "data" / "geo-whois-asn-country.mmdb"
# The free IP-to-ASN file (RouteViews/NRO/DB-IP via ip-location-db, CC BY 4.0).
BUNDLED_ASN_DB = Path(__file__).resolve().parent / "data" / "asn.mmdb"
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
    """BANGUI_GEOIP_ASN_PATH if set; else a GeoLite2-ASN file fetched by
    ``geoip_update --asn``; else None (see ``bundled_asn_path``)."""
    if settings.GEOIP_ASN_PATH:
        return Path(settings.GEOIP_ASN_PATH)
    downloaded = Path(settings.GEOIP_DOWNLOAD_DIR) / f"{settings.GEOIP_ASN_EDITION}.mmdb"
    return downloaded if downloaded.exists() else None


def bundled_asn_path() -> Path | None:
    """The free ASN file shipped in geo/data, if it is there."""
    return BUNDLED_ASN_DB if BUNDLED_ASN_DB.exists() else None


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


# MaxMind's own database types; geoip2's reader knows their record shapes.
MAXMIND_TYPE_PREFIXES = ("GeoLite2-", "GeoIP2-", "GeoIP-")
READER_GEOIP2 = "geoip2"
READER_MAXMINDDB = "maxminddb"

# (role, database_type) -> the geoip2.database.Reader method, or None for the
# plain reader. Enterprise and City before Country: their names say which.
_GEOIP2_METHODS = {
    "country": (("Enterprise", "enterprise"), ("City", "city"), ("Country", "country")),
    "asn": (("ASN", "asn"), ("ISP", "isp")),
}


def geoip2_method(database_type: str, role: str) -> str | None:
    """The geoip2 Reader method for a file of ``database_type`` used as the
    ``role`` ("country" or "asn") file; None when it is not a MaxMind type."""
    if not database_type.startswith(MAXMIND_TYPE_PREFIXES):
        return None
    return next((method for word, method in _GEOIP2_METHODS[role] if word in database_type),
                None)


class _Database:
    """One open MMDB file and its lookup for a role.

    ``lookup(ip)``: for the country role ``(code, asn, org)`` or None; for the
    asn role ``(asn, org)``, (None, None) when the file has no record.
    Raises ValueError for a string that is not an address."""

    def __init__(self, path: Path, role: str) -> None:
        self.path = path
        self.role = role
        raw = open_reader(path)
        try:
            self.database_type = str(raw.metadata().database_type)
            method = geoip2_method(self.database_type, role)
        except Exception:
            raw.close()
            raise
        if method is None:
            self.kind = READER_MAXMINDDB
            self._reader = raw
            self.lookup = self._raw_country(raw) if role == "country" else self._raw_asn(raw)
        else:
            raw.close()
            try:
                reader = geoip2.database.Reader(str(path), mode=maxminddb.MODE_AUTO)
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                raise MmdbError(f"cannot open {path}: {exc}") from exc
            self.kind = READER_GEOIP2
            self._reader = reader
            get = getattr(reader, method)
            self.lookup = self._geoip2_country(get) if role == "country" else self._geoip2_asn(get)

    @staticmethod
    def _raw_country(reader: maxminddb.Reader):
        get = reader.get

        def lookup(ip: str) -> tuple[str, int | None, str | None] | None:
            record = get(ip)
            code = country_code_of(record)
            if code is None:
                return None
            return (code, *asn_of(record))

        return lookup

    @staticmethod
    def _raw_asn(reader: maxminddb.Reader):
        get = reader.get
        return lambda ip: asn_of(get(ip))

    @staticmethod
    def _geoip2_country(get):
        not_found = geoip2.errors.AddressNotFoundError

        def lookup(ip: str) -> tuple[str, int | None, str | None] | None:
            try:
                model = get(ip)
            except not_found:
                return None
            # GeoLite2 leaves some anycast/satellite networks to registered_country.
            code = model.country.iso_code or model.registered_country.iso_code
            if not code:
                return None
            traits = model.traits  # Enterprise files carry the AS here
            return (code, getattr(traits, "autonomous_system_number", None),
                    getattr(traits, "autonomous_system_organization", None))

        return lookup

    @staticmethod
    def _geoip2_asn(get):
        not_found = geoip2.errors.AddressNotFoundError

        def lookup(ip: str) -> tuple[int | None, str | None]:
            try:
                model = get(ip)
            except not_found:
                return None, None
            return model.autonomous_system_number, model.autonomous_system_organization

        return lookup

    def close(self) -> None:
        self._reader.close()


class _ReloadingReader:
    """One MMDB file, reopened when the file on disk changes.

    ``required=False`` (the ASN file): a file that is missing or will not
    open is logged, ``db`` is None, and the file is tried again when it
    changes on disk."""

    def __init__(self, path: Path, clock: Callable[[], float], *, role: str = "country",
                 required: bool = True) -> None:
        self.path = path
        self.role = role
        self._clock = clock
        self._lock = threading.Lock()
        self._stat = self._file_id()
        self.db: _Database | None
        try:
            self.db = _Database(path, role)
        except MmdbError as exc:
            if required:
                raise
            logger.warning("no %s database, %s unknown: %s", role, role, exc)
            self.db = None
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
                fresh = _Database(self.path, self.role)
            except MmdbError as exc:
                self._stat = current if self.db is None else self._stat
                logger.warning("keeping the old geo database: %s", exc)
                return
            old, self.db, self._stat = self.db, fresh, current
        logger.info("geo database reloaded from %s", self.path)
        if old is not None:
            old.close()

    @property
    def reader(self):
        """The open reader: a ``maxminddb.Reader`` or ``geoip2.database.Reader``."""
        return self.db._reader if self.db is not None else None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


class MmdbResolver:
    """Country (and ASN) from local MMDB files. Never touches the network.

    ``path`` must open (MmdbError otherwise); ``asn_path`` may be missing or
    broken: then the ASN is unknown, and nothing fails."""

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
        self._asn = (_ReloadingReader(Path(asn_path), clock, role="asn", required=False)
                     if asn_path else None)

    @property
    def path(self) -> Path:
        return self._country.path

    @property
    def asn_path(self) -> Path | None:
        return self._asn.path if self._asn is not None else None

    def databases(self) -> dict[str, _Database]:
        """The files open now, by role ("country", "asn"): what credits.py
        reads to decide the attribution."""
        out = {"country": self._country.db}
        if self._asn is not None and self._asn.db is not None:
            out["asn"] = self._asn.db
        return out

    def reader_kinds(self) -> dict[str, str]:
        """"geoip2" or "maxminddb" for each open file, by role."""
        return {role: db.kind for role, db in self.databases().items()}

    def resolve(self, ips: Iterable[str]) -> dict[str, GeoResult | None]:
        """A result for every address: the country, or None when the file
        has no record for it."""
        self._country.maybe_reload()
        lookup = self._country.db.lookup
        asn_lookup = None
        if self._asn is not None:
            self._asn.maybe_reload()
            if self._asn.db is not None:
                asn_lookup = self._asn.db.lookup
        out: dict[str, GeoResult | None] = {}
        for ip in ips:
            try:
                found = lookup(ip)
            except ValueError:
                out[ip] = None
                continue
            if found is None:
                out[ip] = None
                continue
            code, asn, org = found
            if asn_lookup is not None and asn is None:
                with contextlib.suppress(ValueError):  # e.g. IPv6 and an IPv4-only file
                    asn, org = asn_lookup(ip)
            out[ip] = make_result(ip, code, SOURCE_MMDB, asn=asn, org=org)
        return out

    def close(self) -> None:
        self._country.close()
        if self._asn is not None:
            self._asn.close()
