"""One config file editor for every node (jails/views/config.py): this
host's URL (/config/file/save/) and the node URL naming this host's node
(/nodes/<BANGUI_NODE>/config/file/save/) are the same view, and both save
through the dispatch in this process (jails/fleet/config.py), audited there
once. Node b's queued round trip is test_fleet_commands.py's."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import AuditEntry
from jails.config.files import ABSENT, content_hash
from jails.tests.conftest import snapshot

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
REL = "jail.d/editor-nodes.local"
GOOD = "[sshd]\nmaxretry = 4\n"


def _save_url(where: str) -> str:
    return "/config/file/save/" if where == "here" else \
        f"/nodes/{settings.BANGUI_NODE}/config/file/save/"


@pytest.fixture
def local(cfg):
    yield cfg.confdir / "jail.d" / "editor-nodes.local"
    # The f2b fixture restarts the sandbox when a .local is left behind.


def _one_audit_row() -> AuditEntry:
    rows = list(AuditEntry.objects.filter(action="config.save"))
    assert len(rows) == 1, [(r.result, r.detail) for r in rows]  # the dispatch's, no other
    return rows[0]


@pytest.mark.parametrize("where", ["here", "node"])
def test_a_good_file_is_saved_the_same_way(local, operator_client, f2b_client, where):
    response = operator_client.post(_save_url(where), {"path": REL, "version": ABSENT,
                                                       "text": GOOD}, **HX)
    result = response.context["result"]
    assert response.status_code == 200, response.content.decode()
    assert result.ok and result.message.startswith("Saved jail.d/editor-nodes.local; "
                                                   "fail2ban reloaded")
    assert response.context["file"].text == GOOD
    assert response.context["form"].initial["version"] == content_hash(GOOD)
    assert local.read_text() == GOOD
    assert f2b_client.jail_settings("sshd").maxretry == 4
    row = _one_audit_row()
    assert (row.result, row.target, row.node, row.actor_name) == (
        "ok", REL, settings.BANGUI_NODE, "operator")
    assert row.source_ip  # audited as the request


@pytest.mark.parametrize("where", ["here", "node"])
def test_a_stale_edit_is_refused_the_same_way(local, operator_client, where):
    local.write_text("[sshd]\nmaxretry = 5\n")
    response = operator_client.post(_save_url(where), {"path": REL, "version": ABSENT,
                                                       "text": GOOD}, **HX)
    html = response.content.decode()
    assert response.status_code == 409
    assert response.context["stale"].current == "[sshd]\nmaxretry = 5\n"
    assert not response.context["result"].ok
    assert response.context["result"].message.startswith(f"{REL} was changed by someone")
    assert "-maxretry = 5" in html and "+maxretry = 4" in html  # the diff, the user's text
    assert local.read_text() == "[sshd]\nmaxretry = 5\n"
    row = _one_audit_row()
    assert (row.result, row.node) == ("failed", settings.BANGUI_NODE)
    assert "changed by someone else" in row.detail


@pytest.mark.parametrize("where", ["here", "node"])
def test_a_refused_path_is_refused_the_same_way(cfg, operator_client, where):
    before = snapshot(cfg.confdir)
    response = operator_client.post(_save_url(where), {"path": "../../etc/passwd",
                                                       "version": ABSENT, "text": "x"}, **HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "<h1>File refused</h1>" in html
    # the reason, not "on <node>: …"
    assert 'data-testid="result">&#x27;../../etc/passwd&#x27;: &#x27;..&#x27;' in html
    assert snapshot(cfg.confdir) == before
    row = _one_audit_row()
    assert (row.result, row.node, row.target) == ("failed", settings.BANGUI_NODE,
                                                  "../../etc/passwd")


@pytest.mark.parametrize("where", ["here", "node"])
def test_a_broken_file_is_rolled_back_the_same_way(local, operator_client, f2b_client, where):
    response = operator_client.post(_save_url(where), {
        "path": REL, "version": ABSENT, "text": "[sshd]\nbantime = abc\n"}, **HX)
    result = response.context["result"]
    assert response.status_code == 200
    assert not result.ok and result.rolled_back and "rolled it back" in result.message
    assert response.context["form"].initial["text"] == "[sshd]\nbantime = abc\n"  # kept
    assert not local.exists()
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]
    row = _one_audit_row()
    assert row.result == "failed" and "rolled it back" in row.detail
    # The banner is this host's: on /config/, not on another node's page.
    assert 'data-testid="rollback-banner"' in operator_client.get("/config/").content.decode()
    assert 'data-testid="rollback-banner"' not in operator_client.get(
        "/nodes/b/config/").content.decode()


def test_a_nodes_rollback_shows_on_its_page_only(operator_client):
    AuditEntry.objects.create(actor_name="root", action="config.save", target=REL,
                              result="failed", node="b",
                              detail="Your change was written, but … BanGUI rolled it back: …")
    assert 'data-testid="rollback-banner"' in operator_client.get(
        "/nodes/b/config/").content.decode()
    assert 'data-testid="rollback-banner"' not in operator_client.get(
        "/config/").content.decode()


def test_an_invalid_form_is_refused_over_the_file_as_it_is(local, operator_client):
    local.write_text(GOOD)
    response = operator_client.post(_save_url("node"), {"path": REL, "version": "x" * 65,
                                                        "text": "[sshd]\n"}, **HX)
    assert response.status_code == 400
    assert response.context["file"].text == GOOD  # read through the dispatch
    assert response.context["form"].errors
    assert _one_audit_row().result == "failed"  # results.refused
    assert local.read_text() == GOOD
