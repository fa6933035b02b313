"""manage.py geoip_update and its daily schedule against a local HTTP server:
MaxMind's .tar.gz, a plain .mmdb, an .mmdb.gz, broken files, a trickle."""

from __future__ import annotations

import gzip
import io
import signal
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils.module_loading import import_string

from bangui.tests.conftest import Project, wait_for_text
from conftest import TrickleServer, wait_for
from geo.mmdb import BUNDLED_DB, MmdbResolver, asn_db_path, country_db_path
from geo.update import UpdateError, scheduled_update

KEY = "test-licence-key-123"
URL_TOKEN = "url-token-456"  # a plain URL's query may hold a token too


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
    settings.GEOIP_ASN_PATH = ""
    settings.GEOIP_URL = ""
    settings.GEOIP_ASN_URL = ""
    settings.GEOIP_DEADLINE = 60
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
    settings.GEOIP_URL = settings.GEOIP_ASN_URL = ""
    with pytest.raises(CommandError, match="BANGUI_MAXMIND_LICENSE_KEY") as exc:
        call_command("geoip_update")
    assert "BANGUI_GEOIP_URL" in str(exc.value)


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


# --- plain URLs: an .mmdb or an .mmdb.gz (BANGUI_GEOIP_URL) -------------------------
@pytest.fixture
def plain_url(geo_settings, download_server):
    """BANGUI_GEOIP_URL set (and no licence key); returns a setter for the
    served body."""
    base, files, _ = download_server
    geo_settings.MAXMIND_LICENSE_KEY = ""
    geo_settings.GEOIP_URL = f"{base}/country.mmdb?token={URL_TOKEN}"

    def serve(body: bytes, path: str = "/country.mmdb") -> None:
        files[path] = body

    return serve


@pytest.mark.parametrize("compress", [False, True], ids=["mmdb", "mmdb.gz"])
def test_it_installs_a_plain_mmdb_or_mmdb_gz_url(plain_url, geo_settings, download_server,
                                                  tmp_path, compress):
    _, _, seen = download_server
    body = BUNDLED_DB.read_bytes()
    if compress:
        geo_settings.GEOIP_URL = geo_settings.GEOIP_URL.replace(".mmdb?", ".mmdb.gz?")
        plain_url(gzip.compress(body, compresslevel=1), "/country.mmdb.gz")
    else:
        plain_url(body)

    out = io.StringIO()
    call_command("geoip_update", stdout=out)

    target = tmp_path / "geoip" / "GeoLite2-Country.mmdb"
    assert target.read_bytes() == body
    assert country_db_path() == target
    assert MmdbResolver(target).resolve(["8.8.8.8"])["8.8.8.8"].country_code == "US"
    assert len(seen) == 1 and URL_TOKEN in seen[0]
    assert "installed" in out.getvalue()
    assert URL_TOKEN not in out.getvalue()  # the URL is shown without its query
    assert list(target.parent.iterdir()) == [target]


def test_a_plain_url_wins_over_the_licence_key(plain_url, geo_settings, download_server):
    _, _, seen = download_server
    geo_settings.MAXMIND_LICENSE_KEY = KEY
    plain_url(BUNDLED_DB.read_bytes())
    call_command("geoip_update", stdout=io.StringIO())
    assert [p.split("?")[0] for p in seen] == ["/country.mmdb"]


@pytest.mark.parametrize("body", [
    b"<html>this is a login page, not a database</html>" * 50,
    BUNDLED_DB.read_bytes()[:1_000_000],
    gzip.compress(b"not a maxmind database" * 100),
    gzip.compress(BUNDLED_DB.read_bytes(), compresslevel=1)[:500_000],
], ids=["html", "truncated-mmdb", "gzipped-garbage", "truncated-gzip"])
def test_a_broken_plain_download_is_refused_and_the_old_file_kept(
    plain_url, tmp_path, body
):
    target = tmp_path / "geoip" / "GeoLite2-Country.mmdb"
    target.parent.mkdir()
    target.write_bytes(BUNDLED_DB.read_bytes())
    before = target.stat().st_mtime_ns
    plain_url(body)

    with pytest.raises(CommandError, match="unchanged") as exc:
        call_command("geoip_update", stdout=io.StringIO())

    assert URL_TOKEN not in str(exc.value)
    assert target.stat().st_mtime_ns == before
    assert target.read_bytes() == BUNDLED_DB.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_an_asn_url_must_hold_asn_data_and_does_not_stop_the_country_file(
    plain_url, geo_settings, download_server, tmp_path
):
    base, _, _ = download_server
    plain_url(BUNDLED_DB.read_bytes())
    plain_url(BUNDLED_DB.read_bytes(), "/asn.mmdb")  # a country file: no ASN in it
    geo_settings.GEOIP_ASN_URL = f"{base}/asn.mmdb"
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"no asn for 8\.8\.8\.8.*unchanged"):
        call_command("geoip_update", stdout=out)

    assert (tmp_path / "geoip" / "GeoLite2-Country.mmdb").exists()
    assert not (tmp_path / "geoip" / "GeoLite2-ASN.mmdb").exists()
    assert asn_db_path() is None
    assert "GeoLite2-Country.mmdb" in out.getvalue()


def test_it_refuses_a_url_that_is_not_http(settings, geo_settings):
    geo_settings.GEOIP_URL = "file:///etc/passwd"
    with pytest.raises(CommandError, match="BANGUI_GEOIP_URL must be an http"):
        call_command("geoip_update", stdout=io.StringIO())


# --- every download has a deadline --------------------------------------------------
@pytest.mark.parametrize("mode", ["body", "headers"])
def test_a_trickling_server_is_given_up_at_the_deadline(geo_settings, tmp_path, mode):
    """The headers at once and the body a byte every 0.1 s, or even the
    headers trickling: requests' read timeout never fires, the deadline does."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n"
    body = BUNDLED_DB.read_bytes()[:5000]
    sock = socket.create_server(("127.0.0.1", 0))
    server = TrickleServer(sock, *((head, body) if mode == "body" else (b"", head + body)),
                           seconds=20)
    try:
        geo_settings.MAXMIND_LICENSE_KEY = ""
        geo_settings.GEOIP_URL = f"http://127.0.0.1:{sock.getsockname()[1]}/country.mmdb"
        geo_settings.GEOIP_DEADLINE = 1
        target = tmp_path / "geoip" / "GeoLite2-Country.mmdb"
        target.parent.mkdir()
        target.write_bytes(BUNDLED_DB.read_bytes())

        with pytest.raises(CommandError, match=r"no complete download within 1 s.*unchanged"):
            call_command("geoip_update", stdout=io.StringIO())

        assert server.connections == 1
        assert target.read_bytes() == BUNDLED_DB.read_bytes()
        assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    finally:
        server.close()


# --- the daily schedule ---------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("source", ["MAXMIND_LICENSE_KEY", "GEOIP_URL", "GEOIP_ASN_URL"])
def test_the_schedule_exists_only_while_a_source_is_set(settings, source):
    from django_q.models import Schedule

    from bangui.schedules import GEOIP_UPDATE, sync_schedules

    settings.MAXMIND_LICENSE_KEY = settings.GEOIP_URL = settings.GEOIP_ASN_URL = ""
    sync_schedules()
    assert not Schedule.objects.filter(name=GEOIP_UPDATE.schedule_name).exists()

    setattr(settings, source, "https://example.org/x.mmdb" if "URL" in source else KEY)
    report = sync_schedules()
    assert report.created == [GEOIP_UPDATE.schedule_name]
    row = Schedule.objects.get(name=GEOIP_UPDATE.schedule_name)
    assert (row.func, row.schedule_type, row.repeats) == ("geo.update.scheduled_update", "D", -1)
    assert import_string(GEOIP_UPDATE.func) is scheduled_update  # django-q2 finds it
    assert sync_schedules().created == []  # idempotent

    setattr(settings, source, "")
    report = sync_schedules()
    assert report.deleted == [GEOIP_UPDATE.schedule_name]
    assert not Schedule.objects.filter(name=GEOIP_UPDATE.schedule_name).exists()


def test_the_scheduled_task_installs_and_refreshes_an_asn_file_fetched_before(
    geo_settings, download_server, tmp_path
):
    _, files, seen = download_server
    files["/GeoLite2-Country.tar.gz"] = _tar_gz({"x/GeoLite2-Country.mmdb":
                                                 BUNDLED_DB.read_bytes()})
    assert scheduled_update() == 1
    assert (tmp_path / "geoip" / "GeoLite2-Country.mmdb").exists()
    assert [p.split("?")[0] for p in seen] == ["/GeoLite2-Country.tar.gz"]

    # An ASN file fetched before (geoip_update --asn) is refreshed too; this
    # one is no ASN database, so the task fails and the old file stays.
    asn = tmp_path / "geoip" / "GeoLite2-ASN.mmdb"
    asn.write_bytes(b"old asn file")
    files["/GeoLite2-ASN.tar.gz"] = _tar_gz({"x/GeoLite2-ASN.mmdb": BUNDLED_DB.read_bytes()})
    with pytest.raises(UpdateError, match=r"GeoLite2-ASN: .*no asn") as exc:
        scheduled_update()
    assert KEY not in str(exc.value)
    assert asn.read_bytes() == b"old asn file"
    assert [p.split("?")[0] for p in seen][1:] == ["/GeoLite2-Country.tar.gz",
                                                   "/GeoLite2-ASN.tar.gz"]


def test_the_scheduled_task_does_nothing_without_a_source(settings):
    settings.MAXMIND_LICENSE_KEY = settings.GEOIP_URL = settings.GEOIP_ASN_URL = ""
    assert scheduled_update() == 0


SCHEDULE_DUE_NOW = """
from datetime import timedelta
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task
geoip = Schedule.objects.get(name__startswith="bangui:geoip-update@")
print(geoip.func, geoip.schedule_type)
Schedule.objects.exclude(pk=geoip.pk).update(next_run=timezone.now() + timedelta(days=1))
geoip.next_run = timezone.now()
geoip.save(update_fields=["next_run"])
async_task("django_q.scheduler.scheduler")
"""


def test_the_worker_runs_the_schedule_migrate_wrote_for_a_url(tmp_path, download_server):
    """A real installation with BANGUI_GEOIP_URL in its environment: migrate
    writes the schedule, the one cluster runs it, the file is installed."""
    base, files, seen = download_server
    files["/country.mmdb.gz"] = gzip.compress(BUNDLED_DB.read_bytes(), compresslevel=1)
    proj = Project(tmp_path / "data", None)
    proj.data_dir.mkdir()
    proj.env["BANGUI_GEOIP_URL"] = f"{base}/country.mmdb.gz?token={URL_TOKEN}"
    try:
        done = proj.run("migrate", "--noinput", "-v0", timeout=180)
        assert done.returncode == 0, done.stderr
        done = proj.run("shell", "-c", SCHEDULE_DUE_NOW)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-2:] == ["geo.update.scheduled_update", "D"]

        target = proj.data_dir / "geoip" / "GeoLite2-Country.mmdb"
        cluster, log = proj.start("qcluster", log="cluster.log")
        assert wait_for(target.exists, timeout=60), log.read_text()
        wait_for_text(log, "geoip update: http://127.0.0.1")
        cluster.send_signal(signal.SIGTERM)
        assert cluster.wait(timeout=30) == 0, log.read_text()
    finally:
        proj.close()
    assert target.read_bytes() == BUNDLED_DB.read_bytes()
    assert [p.split("?")[0] for p in seen] == ["/country.mmdb.gz"]
    assert URL_TOKEN not in log.read_text()
