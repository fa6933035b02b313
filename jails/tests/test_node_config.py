"""A node's config files (jails/fleet/config.py; the list in
jails/views/node_config.py, the editor jails/views/config.py's with the node
as parameter): the commands on the real sandbox, and what the pages say when
the node cannot answer. The round trip through a real node is in
test_fleet_commands.py; the same editor for this host in
test_config_editor_nodes.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jails.config import files
from jails.fleet import commands
from nodes.models import Node

pytestmark = pytest.mark.django_db


@pytest.fixture
def cfg(f2b, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return f2b


def test_the_config_commands_read_and_save_with_the_local_transaction(cfg):
    words, listing = commands.answer("config_list", {}, "root")
    assert "jail.conf" in listing["files"]["."] and words.endswith("config files")
    _, read = commands.answer("config_read", {"path": "jail.d/fleet-test.local"}, "root")
    assert read == {"rel": "jail.d/fleet-test.local", "text": None, "link": None}
    _, saved = commands.answer("config_save", {"path": "jail.d/fleet-test.local",
                                               "text": "[sshd]\nmaxretry = 6\n",
                                               "expected": files.ABSENT}, "root")
    assert saved["outcome"]["ok"] and saved["file"]["text"] == "[sshd]\nmaxretry = 6\n"
    _, stale = commands.answer("config_save", {"path": "jail.d/fleet-test.local",
                                               "text": "x", "expected": files.ABSENT}, "root")
    assert stale["stale"]["current"] == "[sshd]\nmaxretry = 6\n"
    # Answered, but not done: the dispatch audits it as failed.
    assert commands.run("config_save", {"path": "jail.d/fleet-test.local", "text": "x",
                                        "expected": files.ABSENT}, "root")["ok"] is False
    # The .local stays: the f2b fixture removes it and restarts the sandbox,
    # so the next test does not run with this maxretry (deleting the file
    # alone would leave the running jail changed).
    for command, args in (("config_read", {"path": "../../etc/passwd"}),
                          ("config_read", {"path": "jail.conf", "extra": "x"}),
                          ("config_save", {"path": "jail.conf", "text": "x",
                                           "expected": files.ABSENT})):
        with pytest.raises(commands.InvalidInput):
            commands.answer(command, args, "root")


def test_a_down_node_says_so_on_its_config_pages(admin_client):
    now = timezone.now()
    Node.objects.create(name="b", holder="b:1:x", heartbeat_at=now - timedelta(minutes=5),
                        expires_at=now - timedelta(minutes=4))
    listing = admin_client.get("/nodes/b/config/")
    assert listing.status_code == 503
    assert "Its files cannot be listed: on b: node b is down" in listing.content.decode()
    page = admin_client.get("/nodes/b/config/file/?path=jail.d/x.local")
    assert page.status_code == 400 and "node b is down" in page.content.decode()
    save = admin_client.post("/nodes/b/config/file/save/", {
        "path": "jail.d/x.local", "version": files.ABSENT, "text": "[sshd]\n"},
        HTTP_HX_REQUEST="true")
    assert save.status_code == 400 and "on b: node b is down" in save.content.decode()
    assert '<section id="file-editor"' in save.content.decode()  # the editor, kept
    assert "[sshd]" in save.content.decode()  # with the user's text
