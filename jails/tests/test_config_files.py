"""The config transaction against the real sandboxed fail2ban and its config dir."""

import os

import pytest

from jails.config import files as config_files
from jails.config import jail as jail_config
from jails.config.files import ABSENT, Change, PathRefused, StaleEdit, ValidationFailed
from jails.tests.conftest import snapshot

pytestmark = pytest.mark.django_db


def test_it_enables_and_disables_an_inactive_jail(cfg, f2b_client):
    conf_before = (cfg.confdir / "jail.conf").read_bytes()
    assert "postfix" not in f2b_client.jail_names()

    outcome = config_files.apply([jail_config.change_jail("postfix", {"enabled": "true"})])
    assert outcome.ok, outcome.message
    assert "postfix" in f2b_client.jail_names()
    local = cfg.confdir / "jail.d" / "postfix.local"
    assert local.read_text() == "[postfix]\nenabled = true\n"

    outcome = config_files.apply([jail_config.change_jail("postfix", {"enabled": "false"})])
    assert outcome.ok, outcome.message
    assert "postfix" not in f2b_client.jail_names()
    assert local.read_text() == "[postfix]\nenabled = false\n"
    assert (cfg.confdir / "jail.conf").read_bytes() == conf_before


def test_it_backs_up_outside_the_fail2ban_dir(cfg, settings):
    outcome = config_files.apply([jail_config.change_jail("sshd", {"maxretry": "7"})])
    assert outcome.ok
    assert outcome.backup.startswith(str(settings.DATA_DIR))
    assert (settings.DATA_DIR / "config-backups").is_dir()
    assert not list(cfg.confdir.rglob("*.bak")) and not list(cfg.confdir.rglob("*.tmp"))


def test_it_refuses_a_broken_regex_before_writing(cfg, f2b_client):
    before = snapshot(cfg.confdir)
    text = "[Definition]\nfailregex = ^Failed for (<HOST>\n"
    with pytest.raises(ValidationFailed, match="cannot use this filter"):
        config_files.apply([Change("filter.d/sshd.local", text, ABSENT)])
    assert snapshot(cfg.confdir) == before
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]


def test_it_refuses_a_config_test_failure_before_writing(cfg):
    before = snapshot(cfg.confdir)
    with pytest.raises(ValidationFailed, match="Have not found any log file"):
        config_files.apply([jail_config.change_jail("sshd", {"logpath": "/nonexistent/x.log"})])
    assert snapshot(cfg.confdir) == before


def test_it_refuses_bad_syntax(cfg):
    with pytest.raises(ValidationFailed, match=r"sshd\.local"):
        config_files.apply([Change("jail.d/sshd.local", "enabled = true\n", ABSENT)])
    assert not (cfg.confdir / "jail.d" / "sshd.local").exists()


def test_it_rolls_back_when_fail2ban_fails_to_reload(cfg, f2b_client):
    # Passes fail2ban-client -t, but the server refuses it and, in 1.0.2,
    # drops every jail on that reload.
    local = cfg.confdir / "jail.d" / "sshd.local"
    local.write_text("[sshd]\nmaxretry = 4\n")
    before = snapshot(cfg.confdir)
    version = config_files.content_hash(local.read_bytes())

    outcome = config_files.apply([Change("jail.d/sshd.local", "[sshd]\nbantime = abc\n",
                                         version)])
    assert not outcome.ok and outcome.rolled_back
    assert "rolled it back" in outcome.message and "jail.d/sshd.local" in outcome.message
    assert snapshot(cfg.confdir) == before
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]
    assert f2b_client.jail_settings("sshd").maxretry == 4


def test_it_rolls_back_a_new_file_by_removing_it(cfg, f2b_client):
    outcome = config_files.apply([Change("jail.d/broken.local", "[sshd]\nbantime = abc\n",
                                         ABSENT)])
    assert outcome.rolled_back
    assert not (cfg.confdir / "jail.d" / "broken.local").exists()
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]


def test_it_refuses_a_stale_edit(cfg):
    local = cfg.confdir / "jail.d" / "sshd.local"
    local.write_text("[sshd]\nmaxretry = 4\n")
    seen = config_files.read("jail.d/sshd.local").version
    local.write_text("[sshd]\nmaxretry = 5\n")  # someone else saved in between
    with pytest.raises(StaleEdit) as exc:
        config_files.apply([Change("jail.d/sshd.local", "[sshd]\nmaxretry = 6\n", seen)])
    assert local.read_text() == "[sshd]\nmaxretry = 5\n"
    assert "-maxretry = 5" in exc.value.diff and "+maxretry = 6" in exc.value.diff


def test_it_refuses_to_create_a_file_someone_else_created(cfg):
    (cfg.confdir / "jail.d" / "x.local").write_text("[sshd]\n")
    with pytest.raises(StaleEdit):
        config_files.apply([Change("jail.d/x.local", "[sshd]\nmaxretry = 2\n", ABSENT)])


@pytest.mark.parametrize("rel", [
    "../../etc/passwd", "/etc/passwd", "jail.d/../../x.local", "jail.d/a\x00.local",
    "jail.d/sub/x.local", "..", "", "jail.d/x.txt", "jail.d\\x.local", "./jail.local",
])
def test_it_refuses_paths_outside_the_config_dir(cfg, rel):
    with pytest.raises(PathRefused):
        config_files.resolve(rel)


def test_it_refuses_a_symlink_out_of_the_dir(cfg, tmp_path):
    outside = tmp_path / "outside.local"
    outside.write_text("[sshd]\n")
    os.symlink(outside, cfg.confdir / "jail.d" / "evil.local")
    try:
        with pytest.raises(PathRefused, match="outside"):
            config_files.read("jail.d/evil.local")
        with pytest.raises(PathRefused):
            config_files.apply([Change("jail.d/evil.local", "[sshd]\n",
                                       config_files.content_hash("[sshd]\n"))])
        assert outside.read_text() == "[sshd]\n"
        assert "jail.d/evil.local" not in config_files.listing()["jail.d"]
    finally:
        (cfg.confdir / "jail.d" / "evil.local").unlink()


def test_it_never_writes_a_conf_file(cfg):
    before = (cfg.confdir / "jail.conf").read_bytes()
    with pytest.raises(PathRefused, match="distribution file"):
        config_files.apply([Change("jail.conf", "[DEFAULT]\n",
                                   config_files.content_hash(before))])
    assert (cfg.confdir / "jail.conf").read_bytes() == before


def test_it_refuses_oversize_content(cfg):
    text = "[sshd]\n" + "# x\n" * (config_files.MAX_BYTES // 4 + 1)
    with pytest.raises(ValidationFailed, match="512 KB"):
        config_files.apply([Change("jail.d/big.local", text, ABSENT)])
    assert not (cfg.confdir / "jail.d" / "big.local").exists()


def test_it_keeps_other_lines_when_setting_options():
    text = "# mine\n[sshd]\n# keep\nmaxretry = 3\nlogpath = /a\n   /b\n\n[other]\nx = 1\n"
    out = jail_config.set_options(text, "sshd", {"maxretry": "5", "logpath": "/c\n/d",
                                                 "enabled": "true"})
    assert out == ("# mine\n[sshd]\n# keep\nmaxretry = 5\nlogpath = /c\n          /d\n"
                   "enabled = true\n\n[other]\nx = 1\n")


def test_it_lists_inactive_jails_from_the_config(cfg):
    jails = jail_config.configured_jails()
    assert jails["postfix"].enabled is False
    assert jails["sshd"].enabled is True
    assert [j.name for j in jail_config.inactive_jails(["sshd", "nginx-http-auth"])] == [
        "postfix"]
    assert jail_config.backends() == {"sshd": "polling", "nginx-http-auth": "polling"}


def test_it_provisions_bangui_jails_once_without_overwriting(cfg, f2b_client):
    own = cfg.confdir / "jail.d" / "bangui-blocklist-import.local"
    own.write_text("[blocklist-import]\nenabled = false\n# operator's file\n")
    outcome = jail_config.provision()
    assert outcome.ok, outcome.message
    assert "manual" in f2b_client.jail_names()
    assert "blocklist-import" not in f2b_client.jail_names()
    assert own.read_text().endswith("# operator's file\n")
    assert jail_config.provision() is None
    assert f2b_client.ban("manual", ["203.0.113.77"]) == 1
