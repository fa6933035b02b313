"""Download and install a MaxMind GeoLite2 database (``manage.py geoip_update``).

MaxMind serves each edition as a .tar.gz holding one ``<edition>.mmdb``. The
new file is written next to the target, opened and asked about a well-known
address, and only then moved over the old one with an atomic rename; a
failed or corrupt download never replaces a working database.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

import requests

from geo.mmdb import MmdbError, validate

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
MAX_MMDB_BYTES = 500 * 1024 * 1024
CHUNK = 1024 * 1024


class UpdateError(Exception):
    """The download failed or did not hold a usable database. The message
    never contains the licence key."""


def download_url(template: str, edition: str, license_key: str) -> str:
    return template.format(edition=edition, license_key=license_key)


def _download(url: str, dest: Path, timeout: float) -> None:
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise UpdateError(f"download failed: HTTP {response.status_code}")
            size = 0
            with open(dest, "wb") as fh:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise UpdateError("download is larger than 200 MB; refusing it")
                    fh.write(chunk)
    except requests.RequestException as exc:
        # str(exc) may quote the URL, and the URL holds the key.
        raise UpdateError(f"download failed: {type(exc).__name__}") from None


def _extract_mmdb(archive: Path, dest: Path) -> str:
    """Copy the single .mmdb member of ``archive`` to ``dest`` (never
    extracting paths from the archive). Returns the member name."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".mmdb")]
            if len(members) != 1:
                raise UpdateError(f"archive holds {len(members)} .mmdb files, expected 1")
            member = members[0]
            if member.size > MAX_MMDB_BYTES:
                raise UpdateError("the .mmdb in the archive is larger than 500 MB")
            source = tar.extractfile(member)
            if source is None:
                raise UpdateError("cannot read the .mmdb in the archive")
            with source, open(dest, "wb") as fh:
                while block := source.read(CHUNK):
                    fh.write(block)
            return member.name
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UpdateError(f"archive is corrupt: {exc}") from None


def install(
    url: str, target: Path, *, kind: str = "country", timeout: float = 120.0
) -> str:
    """Fetch ``url`` (a .tar.gz with one .mmdb), validate it and atomically
    replace ``target``. Returns the new file's database type."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".geoip-") as tmp:
        archive = Path(tmp) / "download.tar.gz"
        fresh = Path(tmp) / target.name
        _download(url, archive, timeout)
        _extract_mmdb(archive, fresh)
        try:
            database_type = validate(fresh, kind=kind)
        except MmdbError as exc:
            raise UpdateError(f"downloaded database is not usable: {exc}") from None
        os.chmod(fresh, 0o644)
        # Same directory, so this is a rename: readers see the old file or
        # the new one, never half of one.
        os.replace(fresh, target)
    return database_type
