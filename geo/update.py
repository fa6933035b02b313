"""Download and install the geo databases: ``manage.py geoip_update`` and
the daily ``bangui:geoip-update`` schedule (declared in bangui/schedules.py
only while a source is configured).

Sources:

* **MaxMind GeoLite2** with ``BANGUI_MAXMIND_LICENSE_KEY``:
  ``BANGUI_GEOIP_DOWNLOAD_URL`` serves each edition as a .tar.gz holding one
  ``<edition>.mmdb``;
* **a plain URL**, ``BANGUI_GEOIP_URL`` (country) and
  ``BANGUI_GEOIP_ASN_URL`` (ASN): an ``.mmdb``, an ``.mmdb.gz`` or a .tar.gz
  like MaxMind's, told apart by their content, not by their name. A plain
  URL wins over the licence key for its database.

The new file is written next to the target, opened and asked about a
well-known address (:func:`geo.mmdb.validate`), and only then moved over the
old one with an atomic rename: a failed, slow or corrupt download never
replaces a working database and leaves no temp file.

Every run has one deadline for all its downloads (``BANGUI_GEOIP_DEADLINE``,
below the task worker's 300 s timeout). requests' ``timeout`` bounds each
socket read only, so a server that trickles a byte a second would never time
out; each download runs in a helper thread that the caller waits for until
the deadline, then the socket is shut down (which wakes a blocked read).

Messages never contain a licence key or a URL's query string or
credentials: a plain URL is shown as scheme, host and path only.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import socket
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import requests
from django.conf import settings

from geo.mmdb import MmdbError, validate

logger = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
MAX_MMDB_BYTES = 500 * 1024 * 1024
CHUNK = 64 * 1024
READ_TIMEOUT = 30.0  # each connect and each read, within the deadline
GZIP_MAGIC = b"\x1f\x8b"
USER_AGENT = "BanGUI geoip_update"


class UpdateError(Exception):
    """The download failed or did not hold a usable database. The message
    never contains the licence key."""


@dataclass(frozen=True)
class Source:
    kind: str  # "country" or "asn" (what validate() asks the file for)
    label: str  # the edition, or the URL without query and credentials
    url: str
    target: Path


@dataclass(frozen=True)
class Result:
    source: Source
    database_type: str | None = None
    error: str | None = None


def download_url(template: str, edition: str, license_key: str) -> str:
    return template.format(edition=edition, license_key=license_key)


def shown(url: str) -> str:
    """``url`` fit for a message or a log: no credentials, no query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    with contextlib.suppress(ValueError):
        if parts.port:
            host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def configured() -> bool:
    """A source is set: what turns the schedule on."""
    return bool(settings.MAXMIND_LICENSE_KEY or settings.GEOIP_URL or settings.GEOIP_ASN_URL)


def country_target() -> Path:
    if settings.GEOIP_PATH:
        return Path(settings.GEOIP_PATH)
    return Path(settings.GEOIP_DOWNLOAD_DIR) / f"{settings.GEOIP_EDITION}.mmdb"


def asn_target() -> Path:
    if settings.GEOIP_ASN_PATH:
        return Path(settings.GEOIP_ASN_PATH)
    return Path(settings.GEOIP_DOWNLOAD_DIR) / f"{settings.GEOIP_ASN_EDITION}.mmdb"


def _plain(setting: str, url: str, kind: str, target: Path) -> Source:
    if urlsplit(url).scheme not in ("http", "https"):
        raise UpdateError(f"{setting} must be an http:// or https:// URL")
    return Source(kind, shown(url), url, target)


def sources(*, asn: bool = False) -> list[Source]:
    """What an update fetches: the country database, and the ASN one when
    ``asn`` is asked for or BANGUI_GEOIP_ASN_URL is set. Raises UpdateError
    when nothing is configured."""
    key = settings.MAXMIND_LICENSE_KEY
    out = []
    if settings.GEOIP_URL:
        out.append(_plain("BANGUI_GEOIP_URL", settings.GEOIP_URL, "country", country_target()))
    elif key:
        out.append(Source("country", settings.GEOIP_EDITION, download_url(
            settings.GEOIP_DOWNLOAD_URL, settings.GEOIP_EDITION, key), country_target()))
    if settings.GEOIP_ASN_URL:
        out.append(_plain("BANGUI_GEOIP_ASN_URL", settings.GEOIP_ASN_URL, "asn", asn_target()))
    elif asn and key:
        out.append(Source("asn", settings.GEOIP_ASN_EDITION, download_url(
            settings.GEOIP_DOWNLOAD_URL, settings.GEOIP_ASN_EDITION, key), asn_target()))
    elif asn:
        raise UpdateError("the ASN database needs BANGUI_MAXMIND_LICENSE_KEY or "
                          "BANGUI_GEOIP_ASN_URL")
    if not out:
        raise UpdateError(
            "nothing to download: set BANGUI_MAXMIND_LICENSE_KEY (MaxMind GeoLite2) or "
            "BANGUI_GEOIP_URL (an .mmdb or .mmdb.gz URL). Country lookups keep using the "
            "bundled database; see docs/geo.md.")
    return out


# --- download -------------------------------------------------------------------
def _shut(response: requests.Response | None) -> None:
    """Wake a read blocked on this response's socket (close alone does not)."""
    sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _fetch(url: str, fh: BinaryIO, deadline: float, state: dict) -> None:
    timeout = max(1.0, min(READ_TIMEOUT, deadline - time.monotonic()))
    try:
        with requests.get(url, stream=True, timeout=timeout,
                          headers={"User-Agent": USER_AGENT}) as response:
            state["response"] = response
            if state["abandoned"].is_set():
                return
            if response.status_code != 200:
                raise UpdateError(f"download failed: HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                raise UpdateError("download is larger than 200 MB; refusing it")
            size = 0
            for chunk in response.iter_content(CHUNK):
                if state["abandoned"].is_set():
                    return
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise UpdateError("download is larger than 200 MB; refusing it")
                fh.write(chunk)
    except requests.RequestException as exc:
        # str(exc) may quote the URL, and the URL may hold the key.
        raise UpdateError(f"download failed: {type(exc).__name__}") from None
    except OSError as exc:  # a socket shut at the deadline, a full disk
        raise UpdateError(f"download failed: {type(exc).__name__}") from None


def _download(url: str, dest: Path, deadline: float, seconds: float) -> None:
    """Fetch ``url`` into ``dest`` before ``deadline`` (time.monotonic())."""
    if deadline - time.monotonic() <= 0:
        raise UpdateError(f"no time left: the update's {seconds:g} s deadline has passed")
    state: dict = {"abandoned": threading.Event()}
    with open(dest, "wb") as fh:  # opened here: the helper never creates files

        def run() -> None:
            try:
                _fetch(url, fh, deadline, state)
            except BaseException as exc:  # handed to the caller below
                state["error"] = exc

        worker = threading.Thread(target=run, name="geoip-download", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            state["abandoned"].set()
            if state.get("response") is not None:  # in the body: wake the read
                _shut(state["response"])
                worker.join(5)
            # Still in the headers: the helper gives up on its own (read
            # timeout, or its next write finds the file closed).
            raise UpdateError(f"no complete download within {seconds:g} s "
                              "(BANGUI_GEOIP_DEADLINE)")
    if "error" in state:
        raise state["error"]


# --- unpack ---------------------------------------------------------------------
def _is_tar_header(block: bytes) -> bool:
    return block[257:262] == b"ustar"


def _copy_capped(source: BinaryIO, dest: Path) -> None:
    size = 0
    with open(dest, "wb") as fh:
        while block := source.read(CHUNK):
            size += len(block)
            if size > MAX_MMDB_BYTES:
                raise UpdateError("the database is larger than 500 MB")
            fh.write(block)


def _extract_mmdb(archive: Path, dest: Path) -> str:
    """Copy the single .mmdb member of ``archive`` (a .tar or .tar.gz) to
    ``dest``, never extracting paths from the archive. Returns its name."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".mmdb")]
            if len(members) != 1:
                raise UpdateError(f"archive holds {len(members)} .mmdb files, expected 1")
            member = members[0]
            if member.size > MAX_MMDB_BYTES:
                raise UpdateError("the .mmdb in the archive is larger than 500 MB")
            source = tar.extractfile(member)
            if source is None:
                raise UpdateError("cannot read the .mmdb in the archive")
            with source:
                _copy_capped(source, dest)
            return member.name
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise UpdateError(f"archive is corrupt: {exc}") from None


def unpack(download: Path, dest: Path) -> str:
    """Turn what was downloaded into the .mmdb at ``dest``: a .tar(.gz) with
    one .mmdb, a gzipped .mmdb or the .mmdb itself. Returns what it was."""
    with open(download, "rb") as fh:
        head = fh.read(512)
    if head[:2] == GZIP_MAGIC:
        try:
            with gzip.open(download, "rb") as gz:
                if _is_tar_header(gz.read(512)):
                    kind = "tar.gz"
                else:
                    kind = "mmdb.gz"
                    gz.seek(0)
                    _copy_capped(gz, dest)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:  # BadGzipFile is an OSError
            raise UpdateError(f"archive is corrupt: {exc}") from None
        if kind == "tar.gz":
            _extract_mmdb(download, dest)
        return kind
    if _is_tar_header(head):
        _extract_mmdb(download, dest)
        return "tar"
    os.replace(download, dest)
    return "mmdb"


def install(url: str, target: Path, *, kind: str = "country", deadline: float | None = None,
            seconds: float | None = None) -> str:
    """Fetch ``url``, validate what it holds and atomically replace
    ``target``. Returns the new file's database type."""
    seconds = float(seconds if seconds is not None else settings.GEOIP_DEADLINE)
    deadline = deadline if deadline is not None else time.monotonic() + seconds
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".geoip-",
                                     ignore_cleanup_errors=True) as tmp:
        download = Path(tmp) / "download"
        fresh = Path(tmp) / target.name
        _download(url, download, deadline, seconds)
        unpack(download, fresh)
        try:
            database_type = validate(fresh, kind=kind)
        except MmdbError as exc:
            raise UpdateError(f"downloaded database is not usable: {exc}") from None
        os.chmod(fresh, 0o644)
        # Same directory, so this is a rename: readers see the old file or
        # the new one, never half of one.
        os.replace(fresh, target)
    return database_type


def update(todo: list[Source]) -> list[Result]:
    """Install every source, all within one BANGUI_GEOIP_DEADLINE; a failure
    leaves that database as it was and does not stop the others."""
    seconds = float(settings.GEOIP_DEADLINE)
    deadline = time.monotonic() + seconds
    results = []
    for source in todo:
        try:
            database_type = install(source.url, source.target, kind=source.kind,
                                    deadline=deadline, seconds=seconds)
        except UpdateError as exc:
            results.append(Result(source, error=str(exc)))
        else:
            results.append(Result(source, database_type=database_type))
    return results


def scheduled_update() -> int:
    """The ``bangui:geoip-update`` task: refresh the configured databases
    (the ASN one when a URL is set for it or it was downloaded before).
    Raises UpdateError when one failed, so the failure shows among django-q2's
    failed tasks and in ``bangui_task_failures``. Returns how many were
    installed."""
    if not configured():
        logger.info("geoip update: no source configured, nothing to do")
        return 0
    results = update(sources(asn=asn_target().exists()))
    failed = []
    for result in results:
        if result.error:
            failed.append(f"{result.source.label}: {result.error}")
            logger.warning("geoip update: %s: %s; the current database is unchanged",
                           result.source.label, result.error)
        else:
            logger.info("geoip update: %s: installed %s at %s", result.source.label,
                        result.database_type, result.source.target)
    if failed:
        raise UpdateError("; ".join(failed) + " (the current databases are unchanged)")
    return len(results)
