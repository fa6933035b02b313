import logging
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.authlog import LOGGER_NAME, escape_username
from conftest import TEST_PASSWORD, wait_for
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox

pytestmark = pytest.mark.django_db

FILTER = Path(settings.BASE_DIR) / "contrib" / "fail2ban" / "filter.d" / "bangui-auth.conf"
JAIL = Path(settings.BASE_DIR) / "contrib" / "fail2ban" / "jail.d" / "bangui-auth.local"
LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00) bangui\[auth\]: "
    r"failed login for user '[^'\n]*' from (?P<ip>\S+)$"
)


@pytest.fixture
def auth_log(tmp_path):
    """Send the bangui.auth lines to a file of the test's choosing, with the
    formatter configured in settings.LOGGING."""
    logger = logging.getLogger(LOGGER_NAME)
    configured = next(h for h in logger.handlers if isinstance(h, logging.FileHandler))

    def point_at(path: Path) -> Path:
        handler = logging.FileHandler(path)
        handler.setFormatter(configured.formatter)
        logger.addHandler(handler)
        added.append(handler)
        return path

    added: list[logging.Handler] = []
    saved = logger.handlers[:]
    logger.handlers = [h for h in saved if h is not configured]
    yield point_at
    for handler in added:
        handler.close()
    logger.handlers = saved


def _fail(client, ip, username="nobody"):
    return client.post(reverse("login"), {"username": username, "password": "wrong"},
                       REMOTE_ADDR=ip)


def test_it_writes_one_line_per_failed_login(setup_done, client, auth_log, tmp_path):
    log = auth_log(tmp_path / "auth.log")
    _fail(client, "203.0.113.7", username="x")
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    match = LINE.match(lines[0])
    assert match and match["ip"] == "203.0.113.7"
    assert lines[0].endswith("failed login for user 'x' from 203.0.113.7")


def test_it_escapes_usernames_that_try_to_forge_lines(setup_done, client, auth_log, tmp_path):
    log = auth_log(tmp_path / "auth.log")
    _fail(client, "203.0.113.8", username="a' from 192.0.2.1\n2026-01-01 00:00:00 x")
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    assert LINE.match(lines[0])["ip"] == "203.0.113.8"


def test_it_escapes_quotes_backslashes_and_controls():
    assert escape_username("a'b\\c\nd\u00e9") == "a\\x27b\\x5cc\\x0ad\\xe9"


def test_it_logs_nothing_on_success(admin_user, client, auth_log, tmp_path):
    log = auth_log(tmp_path / "auth.log")
    client.post(reverse("login"), {"username": "admin", "password": TEST_PASSWORD})
    assert not log.exists() or log.read_text() == ""


def test_it_configures_the_auth_log_file_from_settings():
    handler = next(h for h in logging.getLogger(LOGGER_NAME).handlers
                   if isinstance(h, logging.FileHandler))
    assert Path(handler.baseFilename) == Path(settings.AUTH_LOG).resolve()


def test_it_writes_utc_with_the_offset_whatever_the_process_zone(
    setup_done, client, auth_log, tmp_path, process_time_zone
):
    process_time_zone("Asia/Kathmandu")  # UTC+05:45: no whole-hour coincidence
    log = auth_log(tmp_path / "auth.log")
    _fail(client, "203.0.113.9")
    written = datetime.fromisoformat(LINE.match(log.read_text().splitlines()[0])["time"])
    assert abs((datetime.now(UTC) - written).total_seconds()) < 60


@pytest.mark.fail2ban  # the shipped jail on every release of the matrix (1.1.x hosts too)
def test_the_shipped_jail_bans_when_fail2ban_runs_in_another_zone(
    setup_done, client, auth_log, settings, process_time_zone
):
    """BanGUI in America/Los_Angeles (UTC-8), fail2ban in Pacific/Kiritimati
    (UTC+14), the shipped filter and jail: a local time without a zone would
    look 22 hours old to fail2ban and never count."""
    settings.AXES_FAILURE_LIMIT = 2  # axes locks out early; the log still gets every try
    process_time_zone("America/Los_Angeles")
    root = Path(tempfile.mkdtemp(prefix="bga-"))  # short: Unix socket paths max 108 bytes
    sandbox = Sandbox(root, jails=(), env={"TZ": "Pacific/Kiritimati"})
    try:
        sandbox.write_config()
        shutil.copy(FILTER, sandbox.confdir / "filter.d" / "bangui-auth.conf")
        shutil.copy(JAIL, sandbox.confdir / "jail.d" / "bangui-auth.local")
        log = sandbox.logdir / "bangui-auth.log"
        log.touch()
        # What an admin edits in the shipped jail: where the log is.
        (sandbox.confdir / "jail.d" / "zz-site.local").write_text(
            f"[bangui-auth]\nlogpath = {log}\nmaxretry = 3\n"
        )
        sandbox.start()
        auth_log(log)
        for _ in range(3):
            _fail(client, "203.0.113.7", username="root")
        f2b = Fail2banClient(str(sandbox.socket))
        assert wait_for(lambda: "203.0.113.7" in f2b.jail_status("bangui-auth").banned_ips)
        # fail2ban really ran in the other zone: its text times are in Kiritimati.
        (entry,) = Fail2banClient(
            str(sandbox.socket), server_tz=ZoneInfo("Pacific/Kiritimati")
        ).banned_with_time("bangui-auth")
        assert abs((datetime.now(UTC) - entry.banned_at).total_seconds()) < 60
        (naive,) = f2b.banned_with_time("bangui-auth")  # read in our zone: 22 h off
        assert abs((datetime.now(UTC) - naive.banned_at).total_seconds()) > 20 * 3600
    finally:
        sandbox.stop()
        shutil.rmtree(root, ignore_errors=True)
