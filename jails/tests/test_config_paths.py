"""Writes land where they say: symbolic links in the config dir (read
through, never written through), jails that do not exist, names with a
trailing newline, overlong names and files that are not regular files."""

from __future__ import annotations

import os
import threading

import pytest

from jails.config import files as config_files
from jails.config import jail as jail_config
from jails.config.files import ABSENT, Change, ConfigError, PathRefused, content_hash
from jails.fail2ban import InvalidInput, validation
from jails.tests.conftest import snapshot

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
GOOD = "[sshd]\nmaxretry = 4\n"
BROKEN = "[sshd]\nlogpath = /nonexistent/x.log\n"  # fails fail2ban-client -t


@pytest.fixture
def links(cfg):
    """jail.d/a.local (a real file) and the kinds of links an admin makes."""
    jd = cfg.confdir / "jail.d"
    (jd / "a.local").write_text(GOOD)
    (jd / "b.local").symlink_to("a.local")  # relative, same dir
    (jd / "abs.local").symlink_to(jd / "a.local")  # absolute
    (cfg.confdir / "x.local").symlink_to("jail.conf")  # to a distribution file
    (jd / "dangling.local").symlink_to("nowhere.local")
    (jd / "loop.local").symlink_to("loop.local")
    (jd / "out.local").symlink_to("/etc/hostname")  # outside the config dir
    yield cfg
    for p in [*jd.iterdir(), cfg.confdir / "x.local"]:
        if p.is_symlink() or p.name == "a.local":
            p.unlink()


@pytest.mark.parametrize("rel", ["jail.d/b.local", "jail.d/abs.local"])
@pytest.mark.parametrize("text", [BROKEN, GOOD.replace("4", "6")])
def test_a_save_through_a_link_is_refused_and_the_target_is_unchanged(links, rel, text):
    before = snapshot(links.confdir)
    current = config_files.read(rel)
    assert current.link == "jail.d/a.local" and not current.writable
    with pytest.raises(PathRefused, match=r"symbolic link to jail\.d/a\.local"):
        config_files.apply([Change(rel, text, current.version)])
    assert snapshot(links.confdir) == before
    assert (links.confdir / "jail.d" / "a.local").read_text() == GOOD


def test_a_distribution_file_cannot_be_replaced_through_a_local_link(links):
    conf = (links.confdir / "jail.conf").read_bytes()
    current = config_files.read("x.local")
    assert current.link == "jail.conf" and current.text == conf.decode()
    with pytest.raises(PathRefused, match="a distribution file"):
        config_files.apply([Change("x.local", "[sshd]\nmaxretry = 9\n", current.version)])
    assert (links.confdir / "jail.conf").read_bytes() == conf


def test_every_kind_of_link_reads_or_refuses_clearly(links):
    assert config_files.read("jail.d/a.local").link is None
    assert config_files.read("jail.d/a.local").writable
    dangling = config_files.read("jail.d/dangling.local")
    assert not dangling.exists
    with pytest.raises(PathRefused, match="symbolic link"):
        config_files.apply([Change("jail.d/dangling.local", GOOD, ABSENT)])
    assert not (links.confdir / "jail.d" / "nowhere.local").exists()
    with pytest.raises(PathRefused):
        config_files.read("jail.d/loop.local")
    with pytest.raises(PathRefused, match="outside"):
        config_files.read("jail.d/out.local")
    listed = config_files.listing()["jail.d"]
    assert "jail.d/b.local" in listed and "jail.d/out.local" not in listed


def test_the_editor_shows_a_link_read_only_and_saving_it_changes_nothing(links, admin_client):
    page = admin_client.get("/config/file/?path=jail.d/b.local").content.decode()
    assert "A symbolic link to" in page and "Save and reload" not in page
    version = content_hash(GOOD)
    response = admin_client.post("/config/file/save/", {
        "path": "jail.d/b.local", "text": BROKEN, "version": version}, **HX)
    assert response.status_code == 400
    assert "never writes through a link" in response.content.decode()
    assert (links.confdir / "jail.d" / "a.local").read_text() == GOOD


def test_the_staged_copy_never_writes_through_an_absolute_link(links):
    """A change to a regular file next to an absolute link: the staging copy
    keeps the link, and replacing a staged file never follows one."""
    staged_root, staged = config_files._stage([Change("jail.d/abs.local", BROKEN, ABSENT)])
    try:
        assert (staged / "jail.d" / "abs.local").read_text() == BROKEN
        assert not (staged / "jail.d" / "abs.local").is_symlink()
        assert (links.confdir / "jail.d" / "a.local").read_text() == GOOD
    finally:
        import shutil

        shutil.rmtree(staged_root)


@pytest.mark.parametrize("action", ["disable", "enable"])
def test_settings_of_a_jail_that_does_not_exist_are_refused(cfg, operator_client, action):
    before = snapshot(cfg.confdir)
    html = operator_client.post(f"/jails/ghost/{action}/", **HX).content.decode()
    assert "has no jail named &#x27;ghost&#x27;" in html
    html = operator_client.post("/jails/ghost/settings/", {"maxretry": "5"}, **HX).content.decode()
    assert "has no jail named" in html or "Nothing to change" in html
    assert snapshot(cfg.confdir) == before
    assert not (cfg.confdir / "jail.d" / "ghost.local").exists()
    with pytest.raises(ConfigError, match="no jail named"):
        jail_config.change_jail("ghost", {"enabled": "false"})


@pytest.mark.parametrize("name", ["sshd\n", "sshd\r\n", "\nsshd", "ss\nhd"])
def test_a_jail_name_with_a_newline_is_refused(name):
    with pytest.raises(InvalidInput):
        validation.jail_name(name)


def test_a_newline_in_a_jail_url_never_reaches_fail2ban(f2b, f2b_client, operator_client):
    response = operator_client.post("/jails/sshd%0A/ban/", {"ips": "192.0.2.99"}, **HX)
    assert response.status_code in (200, 302, 404)
    assert "192.0.2.99" not in f2b_client.jail_status("sshd").banned_ips


@pytest.mark.parametrize("pattern, text", [
    ("jails.fail2ban.validation._JAIL_NAME", "sshd\n"),
    ("jails.config.regex._FILTER_NAME", "sshd\n"),
    ("jails.forms.jails._TIME", "10m\n"),
    ("jails.forms.map._CODE", "DE\n"),
])
def test_every_name_validator_refuses_a_trailing_newline(pattern, text):
    """``$`` matches before a final newline; every validator matches the
    whole text (``fullmatch``), as the code calls it."""
    import importlib

    module, name = pattern.rsplit(".", 1)
    regex = getattr(importlib.import_module(module), name)
    assert regex.fullmatch(text.rstrip("\n"))
    assert not regex.fullmatch(text)


@pytest.mark.parametrize("rel", ["jail.d/" + "x" * 300 + ".local", "jail.d/" + "y" * 250 + ".local",
                                 "x" * 290 + ".local"])
def test_an_overlong_name_gets_a_message_not_a_500(cfg, admin_client, rel):
    response = admin_client.get(f"/config/file/?path={rel}")
    assert response.status_code == 400
    response = admin_client.post("/config/file/save/", {"path": rel, "text": GOOD,
                                                        "version": ABSENT}, **HX)
    assert response.status_code == 400
    html = response.content.decode()
    # A path over 300 characters is refused by the dispatch's argument check
    # (jails/fleet/commands.py CONFIG_FIELDS) before any node looks at it.
    assert "longer than 255 bytes" in html or "cannot be" in html or \
        "at most 300 characters" in html


def test_a_fifo_in_the_config_dir_is_never_opened_for_a_blocking_read(cfg, admin_client):
    fifo = cfg.confdir / "jail.d" / "pipe.local"
    os.mkfifo(fifo)
    try:
        errors = []

        def read():
            try:
                config_files.read("jail.d/pipe.local")
            except PathRefused as exc:
                errors.append(str(exc))

        worker = threading.Thread(target=read, daemon=True)
        worker.start()
        worker.join(10)  # a deadline against a hang, not a speed limit
        assert not worker.is_alive(), "the editor's read blocked on a FIFO"
        assert errors and "not a regular file" in errors[0]
        response = admin_client.get("/config/file/?path=jail.d/pipe.local")
        assert response.status_code == 400
        assert "not a regular file" in response.content.decode()
        assert "jail.d/pipe.local" not in config_files.listing()["jail.d"]
        with pytest.raises(PathRefused):
            config_files.apply([Change("jail.d/pipe.local", GOOD, ABSENT)])
    finally:
        fifo.unlink()
