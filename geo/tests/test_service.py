"""The process's GeoCache, and what a real worker process does with it."""

from __future__ import annotations

import json
import signal

import pytest
from django.apps import apps

from bangui.tests.conftest import Project, wait_for_text
from geo.cache import GeoCache
from geo.mmdb import asn_of, country_code_of
from geo.service import get_cache

KNOWN = "8.8.8.8"  # in the bundled MMDB
UNKNOWN = "2c0f:ffff::1"  # public, but not in the bundled MMDB
OTHER_UNKNOWN = "2a0c:ffff::1"
SEEN = "1.1.1.1"  # stored in geo_cache by the ``installation`` fixture


def test_get_cache_returns_one_instance_held_on_the_app_config():
    cache = get_cache()
    assert isinstance(cache, GeoCache)
    assert get_cache() is cache
    assert apps.get_app_config("geo")._cache is cache
    assert cache.allow_remote is False


@pytest.mark.django_db
def test_the_process_cache_answers_out_of_the_box():
    assert get_cache().lookup_cached_only(["8.8.8.8"])["8.8.8.8"].country_code == "US"


@pytest.mark.parametrize(("record", "code"), [
    ({"country": {"iso_code": "DE", "names": {"en": "Germany"}}}, "DE"),  # GeoLite2
    ({"registered_country": {"iso_code": "US"}}, "US"),  # GeoLite2, anycast
    ({"country_code": "JP"}, "JP"),  # ip-location-db, DB-IP lite
    ({"country": "BR", "asn": "AS123"}, "BR"),  # ipinfo lite
    ({"country": {"iso_code": "None"}}, None),  # Geoacumen's "no country"
    (None, None),
])
def test_it_reads_country_codes_in_every_common_shape(record, code):
    assert country_code_of(record) == code


@pytest.mark.parametrize(("record", "expected"), [
    ({"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"},
     (15169, "GOOGLE")),
    ({"asn": "AS13335", "as_name": "Cloudflare"}, (13335, "Cloudflare")),
    ({"country_code": "US"}, (None, None)),
])
def test_it_reads_asn_and_organisation(record, expected):
    assert asn_of(record) == expected


# --- real processes: ``manage.py shell`` and ``manage.py qcluster`` ---------------
@pytest.fixture
def installation(tmp_path, ipapi_server):
    """A migrated BanGUI (SQLite file) whose ip-api URL is the local stand-in,
    without its schedules (no geo-flush task writes to geo_cache), and with
    SEEN stored three days ago."""
    proj = Project(tmp_path, None)
    proj.env["BANGUI_GEO_HTTP_URL"] = ipapi_server.url
    done = proj.run("migrate", "--noinput", "-v0", timeout=180)
    assert done.returncode == 0, done.stderr
    done = proj.run("shell", "-c", (
        "from datetime import timedelta; from django.utils import timezone; "
        "from django_q.models import Schedule; from geo.models import GeoCacheEntry; "
        "Schedule.objects.all().delete(); old = timezone.now() - timedelta(days=3); "
        f"GeoCacheEntry.objects.create(ip={SEEN!r}, country_code='AU', "
        "country_name='Australia', source='mmdb', resolved_at=old, last_seen=old)"))
    assert done.returncode == 0, done.stderr
    yield proj
    proj.close()


def _resolve_in_a_worker(proj: Project, ips: list[str]) -> None:
    """Queue one lookup, run the cluster until its worker did it, stop the
    cluster as systemd does (SIGTERM) and wait until every process exited."""
    done = proj.run("shell", "-c", "from django_q.tasks import async_task; "
                                   f"async_task('geo.tests.worker_tasks.resolve', {ips!r})")
    assert done.returncode == 0, done.stderr
    cluster, log = proj.start("qcluster", log="cluster.log")
    wait_for_text(log, "Processed 'geo.tests.worker_tasks.resolve'")
    cluster.send_signal(signal.SIGTERM)
    assert cluster.wait(timeout=30) == 0, log.read_text()


def _stored(proj: Project) -> dict[str, list]:
    """{ip: [country, source, seconds since last_seen]} of geo_cache."""
    done = proj.run("shell", "-c", (
        "import json; from django.utils import timezone; "
        "from geo.models import GeoCacheEntry as G; now = timezone.now(); "
        "print(json.dumps({e.ip: [e.country_code, e.source, "
        "(now - e.last_seen).total_seconds()] for e in G.objects.all()}))"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_what_a_worker_resolved_and_saw_is_in_the_database_after_it_exits(installation,
                                                                          ipapi_server):
    installation.env["BANGUI_GEO_HTTP_FALLBACK"] = "0"
    _resolve_in_a_worker(installation, [KNOWN, UNKNOWN, SEEN])
    stored = _stored(installation)
    assert {ip: row[:2] for ip, row in stored.items()} == {
        KNOWN: ["US", "mmdb"],
        UNKNOWN: [None, "none"],  # stored unresolved, so re-resolve finds it
        SEEN: ["AU", "mmdb"],  # from the database, not resolved again
    }
    # Seen now (to the minute), not three days ago.
    assert stored[SEEN][2] < 120, stored
    assert ipapi_server.requests == []  # no fallback configured: never asked


def test_what_a_command_resolved_is_in_the_database_after_it_exits(installation):
    done = installation.run("shell", "-c", (
        "from geo.service import get_cache; "
        f"print(get_cache().lookup_batch([{KNOWN!r}])[{KNOWN!r}].country_code)"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "US"
    assert _stored(installation)[KNOWN][:2] == ["US", "mmdb"]


def test_only_the_worker_asks_the_http_fallback_when_it_is_configured(installation,
                                                                      ipapi_server):
    installation.env["BANGUI_GEO_HTTP_FALLBACK"] = "1"
    ipapi_server.countries = {UNKNOWN: "ZA", OTHER_UNKNOWN: "NL"}
    # Any other process (a command, a web worker) stays local.
    done = installation.run("shell", "-c", (
        "from geo.service import get_cache; "
        f"print(get_cache().lookup_batch([{OTHER_UNKNOWN!r}])[{OTHER_UNKNOWN!r}].source)"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "none"
    assert ipapi_server.requests == []

    _resolve_in_a_worker(installation, [KNOWN, UNKNOWN])
    assert ipapi_server.requests == [[UNKNOWN]]  # the MMDB answered the other one
    stored = _stored(installation)
    assert stored[KNOWN][:2] == ["US", "mmdb"]
    assert stored[UNKNOWN][:2] == ["ZA", "http"]
