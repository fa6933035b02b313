"""Journal-backed jails (``backend = systemd``) against a real fail2ban
reading a real journal file: systemd-journal-remote writes it from journald's
export format, and the jails read it with ``systemd[journalfiles=...]``
(python3-systemd in fail2ban's Python). The pages show the backend and the
journalmatch instead of log files; enabling, disabling, stopping, starting
and editing such a jail never asks for a logpath; the regex tester reads the
journal as a jail does, and says plainly why not where there is none.

The fixtures are shared with test_journal_browser.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for
from jails.config import jail as jail_config
from jails.config import regex as regex_tester
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import DEFAULT_JAILS, Sandbox, fail2ban_under_test
from jails.forms.config import LOG_FILES_NEED_CONFIG
from jails.forms.jails import LOGPATH_NOT_FOR_JOURNAL

pytestmark = [pytest.mark.django_db, pytest.mark.fail2ban]

HX = {"HTTP_HX_REQUEST": "true"}
JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")
# Two failures of .10 (the jail's maxretry) and one of .11 from sshd, and one
# sshd-looking line from cron that the journalmatch leaves out.
SSHD_ENTRIES = (("sshd", "192.0.2.10"), ("sshd", "192.0.2.10"), ("sshd", "192.0.2.11"),
                ("cron", "198.51.100.1"))
OWN_MATCH = "_SYSTEMD_UNIT=postfix.service"


def write_journal(path: Path, entries=SSHD_ENTRIES) -> Path:
    """A journal file with ``entries`` (command, IP) of the last seconds, as
    journald would have written them (export format -> systemd-journal-remote)."""
    if not JOURNAL_REMOTE.exists():
        pytest.skip("systemd-journal-remote is not installed (scripts/setup.sh installs it)")
    now = int(time.time() * 1e6)
    export = []
    for i, (comm, ip) in enumerate(entries):
        stamp = now - (len(entries) - i) * 1_000_000
        export.append(
            f"__REALTIME_TIMESTAMP={stamp}\n__MONOTONIC_TIMESTAMP={stamp}\n"
            f"_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT={comm}.service\n"
            f"_COMM={comm}\nSYSLOG_IDENTIFIER={comm}\n_PID={1000 + i}\n_HOSTNAME=bastion\n"
            f"MESSAGE=Failed password for root from {ip} port 22 ssh2\n\n")
    source = path.with_suffix(".export")
    source.write_text("".join(export))
    path.unlink(missing_ok=True)
    subprocess.run([str(JOURNAL_REMOTE), "-o", str(path), str(source)], check=True,
                   capture_output=True, timeout=30)
    return path


def journal_jails(journal: Path) -> str:
    # sshd-journal: the filter's journalmatch, backend options; pf-journal:
    # disabled, its own journalmatch; neither has a logpath anywhere.
    return (f"[sshd-journal]\nenabled = true\nfilter = sshd\n"
            f"backend = systemd[journalfiles={journal}]\nmaxretry = 2\n\n"
            f"[pf-journal]\nenabled = false\nfilter = postfix\n"
            f"backend = systemd[journalfiles={journal}]\njournalmatch = {OWN_MATCH}\n")


def _systemd_module_or_skip() -> None:
    python = "/usr/bin/python3"
    if subprocess.run([python, "-c", "import systemd.journal"], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("fail2ban's Python has no systemd module: apt-get install python3-systemd "
                    "(scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def journal_sandbox(tmp_path_factory):
    """A fail2ban-server of its own with the usual jails plus two
    journal-backed ones reading a journal file written for it."""
    _systemd_module_or_skip()
    root = Path(tmp_path_factory.mktemp("f2b-journal"))
    journal = write_journal(root / "test.journal")
    sandbox = Sandbox(root / "sandbox", jails=DEFAULT_JAILS,
                      extra_jail_conf=journal_jails(journal))
    sandbox.journal = journal
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def jsb(journal_sandbox: Sandbox, settings, tmp_path) -> Sandbox:
    """The journal sandbox as its config has it (a test's .local removed,
    fail2ban restarted then), BanGUI pointed at it; no cache between reads."""
    sandbox = journal_sandbox
    stray = [p for d in ("", "jail.d") for p in (sandbox.confdir / d).glob("*.local")]
    for p in stray:
        p.unlink()
    client = Fail2banClient(str(sandbox.socket))
    if stray or not sandbox.is_running() or "sshd-journal" not in client.jail_names():
        sandbox.stop()
        sandbox.start()
    settings.FAIL2BAN_SOCKET = str(sandbox.socket)
    settings.FAIL2BAN_CONFIG_DIR = str(sandbox.confdir)
    settings.FAIL2BAN_CLIENT = sandbox.install.client
    settings.BANGUI_FAIL2BAN_REGEX = sandbox.install.regex
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    return sandbox


def _running(sandbox: Sandbox) -> list[str]:
    return Fail2banClient(str(sandbox.socket)).jail_names()


# --- what the config says ------------------------------------------------------

def test_it_reads_a_journal_jails_backend_and_journalmatch_from_the_config(jsb):
    jails = jail_config.configured_jails()
    sshd, pf, polling = jails["sshd-journal"], jails["pf-journal"], jails["sshd"]
    assert sshd.journal and sshd.backend == f"systemd[journalfiles={jsb.journal}]"
    # No journalmatch of its own: its filter's, as the filter file says it.
    filter_text = (jsb.confdir / "filter.d" / "sshd.conf").read_text()
    expected = next(ln.split("=", 1)[1].strip() for ln in filter_text.splitlines()
                    if ln.startswith("journalmatch"))
    assert sshd.journalmatch == (expected,) and sshd.logpath == []
    assert pf.journal and pf.journalmatch == (OWN_MATCH,)
    assert not polling.journal and polling.journalmatch == ()


def test_fail2ban_runs_the_journal_jail_and_bans_from_the_journal(jsb):
    client = Fail2banClient(str(jsb.socket))
    assert "sshd-journal" in client.jail_names()
    wait_for(lambda: "192.0.2.10" in client.call("get", "sshd-journal", "banned"))
    # fail2ban itself reads no log file for it.
    assert list(client.call("get", "sshd-journal", "logpath")) == []


# --- the pages -----------------------------------------------------------------

def test_the_jails_list_shows_backend_and_journalmatch_instead_of_log_files(jsb, admin_client):
    page = admin_client.get("/jails/").content.decode()
    assert f"systemd[journalfiles={jsb.journal}]" in page  # the running jail's backend
    assert "journal: <span class=\"mono\">_SYSTEMD_UNIT=" in page
    assert OWN_MATCH in page  # the disabled one, in the inactive table
    assert "polling" in page  # the file-backed jails keep theirs


def test_the_jail_page_shows_the_journalmatch_and_asks_for_no_logpath(jsb, admin_client):
    page = admin_client.get("/jails/sshd-journal/").content.decode()
    assert 'data-testid="backend">systemd[journalfiles=' in page
    assert 'data-testid="journalmatch">_SYSTEMD_UNIT=' in page
    assert "<dt>Log files</dt>" not in page and 'name="logpath"' not in page
    disabled = admin_client.get("/jails/pf-journal/").content.decode()
    assert f'data-testid="journalmatch">{OWN_MATCH}' in disabled
    assert 'name="logpath"' not in disabled
    # A file-backed jail keeps its log files and the field.
    assert 'name="logpath"' in admin_client.get("/jails/sshd/").content.decode()


def test_enabling_and_disabling_a_journal_jail_needs_no_logpath(jsb, admin_client):
    enabled = admin_client.post("/jails/pf-journal/enable/", **HX)
    assert enabled.status_code == 200, enabled.content.decode()
    assert "Enabled pf-journal" in enabled.content.decode()
    assert "pf-journal" in _running(jsb)
    assert "logpath" not in (jsb.confdir / "jail.d" / "pf-journal.local").read_text()
    disabled = admin_client.post("/jails/pf-journal/disable/", **HX)
    assert "Disabled pf-journal" in disabled.content.decode()
    assert "pf-journal" not in _running(jsb)


def test_a_journal_jail_stops_and_starts(jsb, operator_client):
    stopped = operator_client.post("/jails/sshd-journal/stop/", **HX)
    assert stopped.status_code == 200 and "Stopped sshd-journal" in stopped.content.decode()
    assert "sshd-journal" not in _running(jsb)
    started = operator_client.post("/jails/sshd-journal/start/", **HX)
    assert "Started sshd-journal" in started.content.decode()
    assert "sshd-journal" in _running(jsb)


def test_editing_a_journal_jail_saves_without_a_logpath(jsb, admin_client):
    saved = admin_client.post("/jails/sshd-journal/settings/", {"maxretry": "4"}, **HX)
    assert "Updated maxretry of sshd-journal" in saved.content.decode()
    assert Fail2banClient(str(jsb.socket)).call("get", "sshd-journal", "maxretry") == 4


def test_a_logpath_sent_for_a_journal_jail_is_refused_and_nothing_is_written(jsb,
                                                                             admin_client):
    refused = admin_client.post("/jails/sshd-journal/settings/",
                                {"maxretry": "4", "logpath": "/var/log/auth.log"}, **HX)
    # Refusals answer like every jail action: the fragment, with why.
    assert LOGPATH_NOT_FOR_JOURNAL in refused.content.decode()
    assert not (jsb.confdir / "jail.d" / "sshd-journal.local").exists()


# --- the regex tester ------------------------------------------------------------

def test_the_tester_reads_the_journal_as_the_jail_does(jsb, admin_client):
    response = admin_client.post("/config/regex/", {"filter_name": "sshd",
                                                    "journal": "sshd-journal"}, **HX)
    text = response.content.decode()
    assert response.status_code == 200, text
    assert "the systemd journal as sshd-journal reads it" in text
    assert "<strong>3 matched</strong>" in text  # cron's line is not in the match
    assert "192.0.2.10, 192.0.2.11" in text and "198.51.100.1" not in text


def test_the_journal_command_is_built_from_the_jails_backend_and_journalmatch(jsb):
    log, matches, label = regex_tester._journal_source("pf-journal")
    assert log == f"systemd-journal[journalfiles={jsb.journal}]"
    assert matches == (OWN_MATCH,) and label.endswith("pf-journal reads it")
    with pytest.raises(regex_tester.TesterError, match="no jail named 'sshd' reads"):
        regex_tester._journal_source("sshd")  # a file-backed jail


def test_a_host_without_a_journal_is_told_so_plainly(jsb, admin_client, monkeypatch,
                                                     tmp_path):
    # journald's directories, empty: no journald writes here.
    empty = [tmp_path / "var-log-journal", tmp_path / "run-log-journal"]
    for d in empty:
        d.mkdir()
    monkeypatch.setattr(regex_tester, "JOURNAL_DIRS", tuple(map(str, empty)))
    page = admin_client.get("/config/regex/").content.decode()
    assert 'data-testid="no-journal"' in page and "no systemd journal" in page
    response = admin_client.post("/config/regex/", {"filter_name": "sshd",
                                                    "journal": regex_tester.SYSTEM_JOURNAL},
                                 **HX)
    assert response.status_code == 400
    assert "This host has no systemd journal to read" in response.content.decode()


def test_a_fail2ban_without_the_systemd_module_is_told_so_plainly(jsb, admin_client,
                                                                   settings, tmp_path):
    # fail2ban-regex run as installed, with Python's systemd module hidden.
    shadow = tmp_path / "shadow" / "systemd"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    install = fail2ban_under_test()
    if install.bindir is None:
        script, path = shutil.which("fail2ban-regex"), ""
    else:
        root = install.bindir.parent
        script = str(root / "usr" / "bin" / "fail2ban-regex")
        path = str(root / "usr" / "lib" / "python3" / "dist-packages")
    wrapper = tmp_path / "fail2ban-regex"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH='{shadow.parent}:{path}' "
                       f"exec /usr/bin/python3 '{script}' \"$@\"\n")
    wrapper.chmod(0o755)
    settings.BANGUI_FAIL2BAN_REGEX = str(wrapper)
    response = admin_client.post("/config/regex/", {"filter_name": "sshd",
                                                    "journal": "sshd-journal"}, **HX)
    assert response.status_code == 400
    assert "its Python has no systemd module" in response.content.decode()
    assert "apt-get install python3-systemd" in response.content.decode()


def test_a_viewer_is_not_offered_the_journal_and_is_refused_one(jsb, viewer_client):
    page = viewer_client.get("/config/regex/").content.decode()
    assert 'name="journal"' not in page
    refused = viewer_client.post("/config/regex/", {"filter_name": "sshd",
                                                    "journal": "sshd-journal"}, **HX)
    text = refused.content.decode()
    assert refused.status_code == 400 and LOG_FILES_NEED_CONFIG in text
    assert "192.0.2.10" not in text  # nothing ran


def test_an_operator_limited_to_bans_is_refused_the_journal(jsb, operator_client, settings):
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False
    refused = operator_client.post("/config/regex/", {"filter_name": "sshd",
                                                      "journal": "sshd-journal"}, **HX)
    assert refused.status_code == 400 and "192.0.2.10" not in refused.content.decode()


def test_the_tester_refuses_two_sources_at_once(jsb, admin_client):
    response = admin_client.post("/config/regex/", {
        "filter_name": "sshd", "journal": "sshd-journal",
        "lines": "Dec  6 12:00:00 host sshd[1]: Failed password for root from 192.0.2.9 "
                 "port 22 ssh2\n"}, **HX)
    assert response.status_code == 400
    assert "one of them" in response.content.decode()


def test_journal_files_follow_the_backend_options(tmp_path):
    files = [tmp_path / "a.journal", tmp_path / "b.journal"]
    assert regex_tester._journal_files(f"journalfiles=\"{files[0]}, {files[1]}\"") == files
    assert "no journal files in journalfiles" in regex_tester.journal_problem(
        f"journalfiles={files[0]}")
    (tmp_path / "machine").mkdir()
    (tmp_path / "machine" / "system.journal").write_bytes(b"")
    assert regex_tester._journal_files(f"journalpath={tmp_path}") == [
        tmp_path / "machine" / "system.journal"]
    if os.geteuid() != 0:  # root reads everything
        (tmp_path / "machine" / "system.journal").chmod(0)
        assert "may not read" in regex_tester.journal_problem(f"journalpath={tmp_path}")
