"""manage.py geoip_update against a local HTTP server."""

from __future__ import annotations

import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from geo.mmdb import BUNDLED_DB, MmdbResolver, country_db_path

KEY = "test-licence-key-123"


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def download_server():
    """Serves ``files[path]``; records the paths asked for."""
    files: dict[str, bytes] = {}
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            path = self.path.split("?", 1)[0]
            body = files.get(path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield base, files, seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def geo_settings(settings, tmp_path, download_server):
    base, _, _ = download_server
    settings.GEOIP_PATH = ""
    settings.GEOIP_DOWNLOAD_DIR = str(tmp_path / "geoip")
    settings.MAXMIND_LICENSE_KEY = KEY
    settings.GEOIP_DOWNLOAD_URL = base + "/{edition}.tar.gz?license_key={license_key}"
    return settings


def test_it_downloads_validates_and_installs_the_database(geo_settings, download_server, tmp_path):
    _, files, seen = download_server
    files["/GeoLite2-Country.tar.gz"] = _tar_gz(
        {"GeoLite2-Country_20260101/GeoLite2-Country.mmdb": BUNDLED_DB.read_bytes(),
         "GeoLite2-Country_20260101/LICENSE.txt": b"licence"})
    assert country_db_path() == BUNDLED_DB

    out = io.StringIO()
    call_command("geoip_update", stdout=out)

    target = tmp_path / "geoip" / "GeoLite2-Country.mmdb"
    assert target.read_bytes() == BUNDLED_DB.read_bytes()
    assert country_db_path() == target
    assert MmdbResolver(target).resolve(["8.8.8.8"])["8.8.8.8"].country_code == "US"
    assert seen == [f"/GeoLite2-Country.tar.gz?license_key={KEY}"]
    assert KEY not in out.getvalue()
    assert list((tmp_path / "geoip").iterdir()) == [target]  # no temp files left


def test_it_writes_to_bangui_geoip_path_when_set(geo_settings, download_server, tmp_path):
    _, files, _ = download_server
    files["/GeoLite2-Country.tar.gz"] = _tar_gz(
        {"x/GeoLite2-Country.mmdb": BUNDLED_DB.read_bytes()})
    target = tmp_path / "prod" / "Country.mmdb"
    geo_settings.GEOIP_PATH = str(target)
    call_command("geoip_update", stdout=io.StringIO())
    assert target.exists()


@pytest.mark.parametrize("body", [
    _tar_gz({"x/GeoLite2-Country.mmdb": b"this is not a maxmind database" * 100}),
    _tar_gz({"x/GeoLite2-Country.mmdb": BUNDLED_DB.read_bytes()[: 1_000_000]}),
    _tar_gz({"x/README.txt": b"no database here"}),
    b"\x1f\x8b garbage that is not gzip",
], ids=["not-mmdb", "truncated-mmdb", "no-mmdb", "not-a-tarball"])
def test_a_corrupt_download_never_replaces_a_working_database(
    geo_settings, download_server, tmp_path, body
):
    _, files, _ = download_server
    target = tmp_path / "geoip" / "GeoLite2-Country.mmdb"
    target.parent.mkdir()
    target.write_bytes(BUNDLED_DB.read_bytes())
    before = target.stat().st_mtime_ns
    files["/GeoLite2-Country.tar.gz"] = body

    with pytest.raises(CommandError, match="unchanged") as exc:
        call_command("geoip_update", stdout=io.StringIO())

    assert KEY not in str(exc.value)
    assert target.stat().st_mtime_ns == before
    assert target.read_bytes() == BUNDLED_DB.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_an_http_error_changes_nothing(geo_settings, download_server, tmp_path):
    with pytest.raises(CommandError, match="HTTP 404"):
        call_command("geoip_update", stdout=io.StringIO())
    assert not (tmp_path / "geoip" / "GeoLite2-Country.mmdb").exists()


def test_it_refuses_to_run_without_a_licence_key(settings):
    settings.MAXMIND_LICENSE_KEY = ""
    with pytest.raises(CommandError, match="BANGUI_MAXMIND_LICENSE_KEY"):
        call_command("geoip_update")


def test_a_running_resolver_picks_up_a_replaced_file(tmp_path, clock):
    path = tmp_path / "Country.mmdb"
    path.write_bytes(BUNDLED_DB.read_bytes())
    resolver = MmdbResolver(path, clock=clock)
    assert resolver.resolve(["8.8.8.8"])["8.8.8.8"] is not None
    fresh = tmp_path / "new.mmdb"
    fresh.write_bytes(BUNDLED_DB.read_bytes())
    Path(fresh).replace(path)
    old_reader = resolver._country.reader
    clock.advance(61)
    resolver.resolve(["8.8.8.8"])
    assert resolver._country.reader is not old_reader
