"""A config whose jails end up with no ban action (fail2ban 1.1.1's jail.conf
no longer sets ``banaction``; it expects paths-*.conf to): BanGUI names it,
with the one line that fixes it, on the config page and the jail page, and
refuses to enable such a jail, before fail2ban refuses the whole config.

The config is a fail2ban config dir of the release under test (its filter.d
and action.d) whose jail.conf is shaped like 1.1.1's, and fail2ban's own
``-t`` confirms the diagnosis both ways."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jails.config import jail as jail_config
from jails.fail2ban.testing import fail2ban_under_test

pytestmark = [pytest.mark.django_db, pytest.mark.fail2ban]

HX = {"HTTP_HX_REQUEST": "true"}

# What 1.1.1's jail.conf keeps of it: banaction commented out, action_ and
# action still built from it.
JAIL_CONF = """\
[DEFAULT]
#banaction = iptables-multiport
#banaction_allports = iptables-allports
port = 0:65535
protocol = tcp
chain = INPUT
backend = polling
action_ = %(banaction)s[port="%(port)s", protocol="%(protocol)s", chain="%(chain)s"]
action = %(action_)s

[sshd]
enabled = true
port = ssh
filter = sshd
logpath = {log}

[recidive]
enabled = false
filter = recidive
logpath = {log}
banaction = %(banaction_allports)s
"""


@pytest.fixture
def no_banaction(settings, tmp_path) -> Path:
    """A config dir whose jails have no ban action; fail2ban not reachable."""
    install = fail2ban_under_test()
    conf = tmp_path / "etc"
    conf.mkdir()
    for sub in ("filter.d", "action.d"):
        shutil.copytree(install.confdir / sub, conf / sub)
    (conf / "jail.d").mkdir()
    log = tmp_path / "auth.log"
    log.touch()
    (conf / "jail.conf").write_text(JAIL_CONF.format(log=log))
    (conf / "fail2ban.conf").write_text(
        f"[Definition]\nsocket = {tmp_path / 'f2b.sock'}\npidfile = {tmp_path / 'f2b.pid'}\n")
    settings.FAIL2BAN_CONFIG_DIR = str(conf)
    settings.FAIL2BAN_SOCKET = str(tmp_path / "f2b.sock")
    settings.FAIL2BAN_CLIENT = install.client
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    return conf


def _fail2ban_test(conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run([fail2ban_under_test().client, "-c", str(conf), "-t"],
                          capture_output=True, text=True, timeout=60, check=False)


def _fix(conf: Path) -> None:
    lines = jail_config.missing_banaction().fix
    (conf / "jail.local").write_text("[DEFAULT]\n" + "\n".join(lines) + "\n")


def test_it_finds_the_jails_without_a_ban_action_and_the_line_that_fixes_them(no_banaction):
    found = jail_config.missing_banaction()
    assert found.enabled == ["sshd"] and found.disabled == ["recidive"]
    # Actions this config has (both releases ship the nftables ones).
    assert found.fix == ["banaction = nftables-multiport",
                         "banaction_allports = nftables-allports"]
    assert jail_config.configured_jails()["sshd"].banaction_missing == ("banaction",)


def test_fail2ban_agrees_before_and_after_the_fix(no_banaction):
    refused = _fail2ban_test(no_banaction)
    assert refused.returncode != 0 and "banaction" in refused.stdout + refused.stderr
    _fix(no_banaction)
    assert jail_config.missing_banaction() is None
    passed = _fail2ban_test(no_banaction)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_the_config_page_names_it_with_the_fix(no_banaction, viewer_client):
    page = viewer_client.get("/config/").content.decode()
    assert 'data-testid="banaction-missing"' in page
    assert "fail2ban will refuse this config: 1 enabled jail (sshd) has no ban action" in page
    assert '<code data-testid="banaction-fix">banaction = nftables-multiport</code>' in page
    assert "to <code>[DEFAULT]</code> in" in page and "?path=jail.local" in page


def test_the_jail_page_names_it_with_the_fix(no_banaction, viewer_client):
    page = viewer_client.get("/jails/sshd/").content.decode()
    assert "sshd has no ban action." in page
    assert "fail2ban will refuse to load the config" in page
    assert '<code data-testid="banaction-fix">banaction = nftables-multiport</code>' in page
    disabled = viewer_client.get("/jails/recidive/").content.decode()
    assert "enabling it would be refused" in disabled
    assert "banaction_allports = nftables-allports" in disabled


def test_with_the_fix_the_pages_say_nothing(no_banaction, viewer_client):
    _fix(no_banaction)
    assert 'data-testid="banaction-missing"' not in viewer_client.get("/config/").content.decode()
    assert "no ban action" not in viewer_client.get("/jails/sshd/").content.decode()


def test_enabling_a_jail_without_a_ban_action_is_refused_with_the_fix(no_banaction,
                                                                      admin_client):
    answer = admin_client.post("/jails/recidive/enable/", **HX).content.decode()
    assert "recidive has no ban action" in answer
    assert "banaction_allports = nftables-allports" in answer
    assert not (no_banaction / "jail.d" / "recidive.local").exists()
