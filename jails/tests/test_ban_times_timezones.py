"""Live ban times when fail2ban runs in another time zone than BanGUI.

fail2ban's database holds epoch seconds (right in any zone); its socket's
``banip --with-time`` prints local times without a zone, read in
BANGUI_FAIL2BAN_TIME_ZONE (else /etc/localtime's zone).
"""

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox, SandboxJail
from jails.live import banned, link

pytestmark = pytest.mark.django_db

KIRITIMATI = "Pacific/Kiritimati"  # UTC+14 all year


def _sandbox(settings, *, with_db: bool):
    root = Path(tempfile.mkdtemp(prefix="bgz-"))  # short: Unix socket paths max 108 bytes
    sandbox = Sandbox(
        root, jails=(SandboxJail("sshd", "sshd", "auth.log"),), env={"TZ": KIRITIMATI}
    )
    sandbox.write_config()
    if not with_db:
        (sandbox.confdir / "fail2ban.d" / "no-db.local").write_text(
            "[Definition]\ndbfile = :memory:\n"
        )
    sandbox.start()
    settings.FAIL2BAN_SOCKET = str(sandbox.socket)
    Fail2banClient(str(sandbox.socket)).ban("sshd", ["198.51.100.4"])
    return sandbox, root


@pytest.fixture
def f2b_elsewhere(settings):
    made = []

    def start(with_db: bool) -> Sandbox:
        sandbox, root = _sandbox(settings, with_db=with_db)
        made.append((sandbox, root))
        return sandbox

    yield start
    for sandbox, root in made:
        sandbox.stop()
        shutil.rmtree(root, ignore_errors=True)


def _age(ban) -> timedelta:
    return datetime.now(UTC) - ban.banned_at


def test_socket_times_are_read_in_the_configured_zone(f2b_elsewhere, settings, process_time_zone):
    process_time_zone("America/Los_Angeles")
    f2b_elsewhere(with_db=False)
    settings.FAIL2BAN_TIME_ZONE = KIRITIMATI
    page = banned.banned_page("sshd")
    assert page.source == "socket"
    (ban,) = page.page
    assert abs(_age(ban).total_seconds()) < 60
    assert abs((ban.ends_at - ban.banned_at) - timedelta(hours=1)) < timedelta(seconds=2)


def test_socket_times_are_off_without_it(f2b_elsewhere, settings, monkeypatch):
    """The setting is what makes them right: in the host's zone (here UTC
    from a zone file) the same ban seems to start 14 hours from now."""
    f2b_elsewhere(with_db=False)
    settings.FAIL2BAN_TIME_ZONE = ""
    monkeypatch.setattr(link, "HOST_ZONE_FILE", "/usr/share/zoneinfo/UTC")
    link._zone.cache_clear()
    try:
        (ban,) = banned.banned_page("sshd").page
    finally:
        link._zone.cache_clear()
    assert abs(_age(ban) + timedelta(hours=14)) < timedelta(minutes=1)


def test_database_times_are_right_whatever_the_setting(f2b_elsewhere, settings, process_time_zone):
    process_time_zone("Asia/Kathmandu")
    f2b_elsewhere(with_db=True)
    settings.FAIL2BAN_TIME_ZONE = "America/Los_Angeles"  # wrong on purpose: not used
    page = banned.banned_page("sshd")
    assert page.source == "db"
    (ban,) = page.page
    assert abs(_age(ban).total_seconds()) < 60


def test_the_default_zone_is_the_hosts_not_the_process(settings, monkeypatch, process_time_zone):
    process_time_zone("UTC")  # what Django makes of TIME_ZONE
    settings.FAIL2BAN_TIME_ZONE = ""
    monkeypatch.setattr(link, "HOST_ZONE_FILE", "/usr/share/zoneinfo/Asia/Kathmandu")
    link._zone.cache_clear()
    try:
        zone = link.server_time_zone()
    finally:
        link._zone.cache_clear()
    assert zone.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=5, minutes=45)
