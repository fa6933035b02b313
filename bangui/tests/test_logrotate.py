"""contrib/logrotate/bangui: logrotate parses it, BanGUI's auth log handler
writes to the new file after a real rotation, and fail2ban's polling
backend reads the new file (the sandboxed fail2ban-server)."""

from __future__ import annotations

import logging
import logging.config
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from conftest import wait_for
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import sshd_failure_line

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "contrib" / "logrotate" / "bangui"
SHIPPED_PATH = "/var/lib/bangui/auth.log"
LOGROTATE = shutil.which("logrotate") or (
    "/usr/sbin/logrotate" if Path("/usr/sbin/logrotate").exists() else None)

needs_logrotate = pytest.mark.skipif(
    LOGROTATE is None, reason="logrotate is not installed (apt-get install logrotate)")


def _config(tmp_path: Path, log: Path) -> Path:
    """The snippet with its path pointed at ``log`` (logrotate refuses
    config files others may write to: 0644)."""
    text = SNIPPET.read_text()
    assert text.count(SHIPPED_PATH + " {") == 1
    conf = tmp_path / "bangui.logrotate"
    conf.write_text(text.replace(SHIPPED_PATH, str(log)))
    conf.chmod(0o644)
    return conf


def _logrotate(tmp_path: Path, conf: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([LOGROTATE, *flags, "--state", str(tmp_path / "state"), str(conf)],
                          capture_output=True, text=True, timeout=60)


def test_the_snippet_rotates_the_shipped_auth_log_path():
    # docs/deployment/*.service set BANGUI_DATA_DIR=/var/lib/bangui and the
    # auth log defaults to $BANGUI_DATA_DIR/auth.log; the jail reads it there.
    assert Path(settings.DATA_DIR) / "auth.log" == settings.AUTH_LOG
    assert "Environment=BANGUI_DATA_DIR=/var/lib/bangui" in (
        ROOT / "docs" / "deployment" / "bangui-web.service").read_text()
    assert f"logpath  = {SHIPPED_PATH}" in (
        ROOT / "contrib" / "fail2ban" / "jail.d" / "bangui-auth.local").read_text()
    body = SNIPPET.read_text().split("{", 1)[1]
    for directive in ("weekly", "rotate 8", "compress", "delaycompress", "missingok",
                      "notifempty", "create"):
        assert f"    {directive}\n" in body
    assert "copytruncate" not in body


@needs_logrotate
def test_logrotate_parses_the_snippet(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("2026-11-23T14:03:06+00:00 bangui[auth]: failed login for user 'x' from "
                   "203.0.113.7\n")
    done = _logrotate(tmp_path, _config(tmp_path, log), "--debug")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "error" not in output.lower(), output
    assert f"rotating pattern: {log}  weekly (8 rotations)" in output
    assert "empty log files are not rotated" in output
    assert log.read_text().startswith("2026-11-23")  # a dry run: nothing moved


@needs_logrotate
def test_the_auth_log_handler_writes_to_the_new_file_after_a_rotation(tmp_path):
    """settings.LOGGING's own handler and format, a real `logrotate --force`."""
    log = tmp_path / "auth.log"
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"auth": settings.LOGGING["formatters"]["auth"]},
        "handlers": {"auth_file": {**settings.LOGGING["handlers"]["auth_file"],
                                   "filename": str(log)}},
        "loggers": {"bangui.test_rotation": {"handlers": ["auth_file"], "level": "INFO",
                                             "propagate": False}},
    })
    logger = logging.getLogger("bangui.test_rotation")
    try:
        logger.warning("failed login for user 'a' from 203.0.113.1")
        done = _logrotate(tmp_path, _config(tmp_path, log), "--force")
        assert done.returncode == 0, done.stdout + done.stderr
        assert log.exists() and log.stat().st_size == 0  # `create`
        logger.warning("failed login for user 'b' from 203.0.113.2")
    finally:
        for handler in logger.handlers[:]:
            handler.close()
            logger.removeHandler(handler)
    assert "203.0.113.1" in (tmp_path / "auth.log.1").read_text()  # delaycompress: plain
    assert log.read_text().endswith("bangui[auth]: failed login for user 'b' from "
                                    "203.0.113.2\n")


@needs_logrotate
def test_fail2ban_reads_the_new_file_after_a_rotation(f2b, tmp_path):
    """The sandbox's sshd jail has BanGUI's auth jail's backend (polling):
    after logrotate moved its log away and created a new one, failures
    written to the new file still ban."""
    log = f2b.log_path("sshd")
    client = Fail2banClient(str(f2b.socket))
    before = "198.51.100.20"
    with log.open("a") as fh:
        fh.write(sshd_failure_line(before) + "\n")
    assert wait_for(lambda: client.jail_status("sshd").total_failed >= 1), (
        client.jail_status("sshd"))

    conf = _config(tmp_path, log)
    done = _logrotate(tmp_path, conf, "--force")
    rotated = log.with_name(log.name + ".1")
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert rotated.exists() and log.stat().st_size == 0
        after = "198.51.100.21"
        with log.open("a") as fh:
            for _ in range(3):  # the sandbox jails' maxretry
                fh.write(sshd_failure_line(after) + "\n")
        assert wait_for(lambda: after in client.banned("sshd"), timeout=20), (
            client.jail_status("sshd"))
    finally:
        rotated.unlink(missing_ok=True)
