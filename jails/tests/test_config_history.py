"""Config history (docs/config.md, "Config history"): every change through
the config transaction kept as a version, the history page and its diff,
restore through the same transaction, "Show changes" before saving,
changes made outside BanGUI, retention and who may do what."""

from __future__ import annotations

import re

import pytest

from accounts.models import AuditEntry
from jails.config import files as config_files
from jails.config import history
from jails.models import ConfigVersion
from jails.tests.conftest import snapshot

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
REL = "jail.d/sshd.local"


def _save(client, text: str, rel: str = REL, url: str = "/config/file/save/"):
    version = config_files.read(rel).version
    return client.post(url, {"path": rel, "version": version, "text": text}, **HX)


def _kinds(rel: str = REL) -> list[tuple]:
    return list(ConfigVersion.objects.filter(path=rel).order_by("id")
                .values_list("kind", "verdict", "applied"))


def test_every_save_is_a_version_with_who_when_and_the_verdict(cfg, operator_client,
                                                               operator_user, settings):
    assert _save(operator_client, "[sshd]\nmaxretry = 8\n").status_code == 200
    assert _save(operator_client, "[sshd]\nmaxretry = 9\n").status_code == 200
    rows = list(ConfigVersion.objects.filter(path=REL).order_by("id"))
    assert [(r.kind, r.verdict, r.applied) for r in rows] == [
        ("created", "passed", True), ("saved", "passed", True)]
    assert rows[1].text == "[sshd]\nmaxretry = 9\n"
    assert rows[1].sha256 == config_files.content_hash(rows[1].text)
    assert {r.actor for r in rows} == {operator_user.username}
    assert {r.node for r in rows} == {settings.BANGUI_NODE}
    assert "fail2ban reloaded" in rows[1].message


def test_a_refused_save_is_kept_as_refused_with_fail2bans_message(cfg, operator_client):
    text = "[sshd]\nlogpath = /no/such/file.log\n"
    response = _save(operator_client, text)
    assert response.status_code == 400
    row = ConfigVersion.objects.get(path=REL)
    assert (row.kind, row.verdict, row.applied, row.text) == ("refused", "failed", False, text)
    assert "config test failed" in row.message and "Have not found any log file" in row.message
    assert not (cfg.confdir / REL).exists()


def test_a_rolled_back_save_is_kept_as_rolled_back(cfg, operator_client):
    _save(operator_client, "[sshd]\nbantime = abc\n")
    row = ConfigVersion.objects.get(path=REL)
    assert (row.kind, row.verdict, row.applied) == ("rolled_back", "failed", False)
    assert "rolled it back" in row.message


def test_the_file_as_found_is_kept_before_the_first_change(cfg, operator_client):
    (cfg.confdir / REL).write_text("[sshd]\nmaxretry = 3\n")
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    rows = list(ConfigVersion.objects.filter(path=REL).order_by("id"))
    assert [(r.kind, r.text) for r in rows] == [("found", "[sshd]\nmaxretry = 3\n"),
                                               ("saved", "[sshd]\nmaxretry = 4\n")]
    assert rows[0].actor == "" and rows[0].verdict == ""


def test_a_change_outside_bangui_is_recorded_when_the_editor_reads_it(cfg, operator_client):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    (cfg.confdir / REL).write_text("[sshd]\nmaxretry = 5\n")  # by hand, on the host
    html = operator_client.get(f"/config/file/?path={REL}").content.decode()
    assert 'data-testid="outside-change"' in html and "Changed outside BanGUI" in html
    assert _kinds()[-1] == ("outside", "", True)
    assert ConfigVersion.objects.filter(path=REL).last().text == "[sshd]\nmaxretry = 5\n"
    operator_client.get(f"/config/file/?path={REL}")  # read again: nothing new
    assert len(_kinds()) == 2
    (cfg.confdir / REL).unlink()  # removed by hand: an absent version
    operator_client.get(f"/config/file/?path={REL}")
    last = ConfigVersion.objects.filter(path=REL).last()
    assert (last.kind, last.text, last.sha256) == ("outside", None, config_files.ABSENT)


def test_a_file_bangui_never_wrote_has_no_history_on_read(cfg, viewer_client):
    viewer_client.get("/config/file/?path=jail.conf")
    viewer_client.get(f"/config/file/?path={REL}")
    assert not ConfigVersion.objects.exists()


def test_an_outside_change_before_a_save_is_kept_too(cfg, operator_client):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    (cfg.confdir / REL).write_text("[sshd]\nmaxretry = 5\n")
    _save(operator_client, "[sshd]\nmaxretry = 6\n")  # the editor's version is the new one
    assert [k for k, _, _ in _kinds()] == ["created", "outside", "saved"]


def test_retention_keeps_the_newest_versions(cfg, settings):
    settings.BANGUI_CONFIG_HISTORY_KEEP = 3
    for n in range(6):
        history.record(REL, f"[sshd]\nmaxretry = {n}\n", ConfigVersion.SAVED, actor="x")
    history.record("jail.d/other.local", "x", ConfigVersion.SAVED, actor="x")
    kept = list(ConfigVersion.objects.filter(path=REL).order_by("id")
                .values_list("text", flat=True))
    assert kept == [f"[sshd]\nmaxretry = {n}\n" for n in (3, 4, 5)]
    assert ConfigVersion.objects.filter(path="jail.d/other.local").count() == 1


def test_the_history_page_lists_versions_newest_first_with_a_diff(cfg, operator_client,
                                                                  viewer_client):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    _save(operator_client, "[sshd]\nmaxretry = 7\nfindtime = 60\n")
    first, second = ConfigVersion.objects.filter(path=REL).order_by("id")
    html = viewer_client.get(f"/config/history/?path={REL}").content.decode()
    assert html.index(f'data-testid="version-{second.pk}"') < html.index(
        f'data-testid="version-{first.pk}"')
    # by default the newest against the one before it, coloured by class
    assert '<span class="diff-line diff-del">-maxretry = 4' in html
    assert '<span class="diff-line diff-add">+maxretry = 7' in html
    assert '<span class="diff-line diff-add">+findtime = 60' in html
    assert "Restore" not in html  # a viewer reads, never restores
    frag = viewer_client.get(f"/config/history/?path={REL}&a={second.pk}&b={first.pk}",
                             **HX).content.decode()
    assert frag.lstrip().startswith('<section id="history"')
    assert '<span class="diff-line diff-add">+maxretry = 4' in frag
    editor = viewer_client.get(f"/config/file/?path={REL}").content.decode()
    assert f'href="/config/history/?path={REL}"' in editor


def test_the_history_page_refuses_a_bad_path(cfg, viewer_client):
    response = viewer_client.get("/config/history/?path=../../etc/passwd")
    assert response.status_code == 400


def test_restore_goes_through_the_transaction_and_is_audited(cfg, operator_client,
                                                             f2b_client):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    _save(operator_client, "[sshd]\nmaxretry = 9\n")
    first = ConfigVersion.objects.filter(path=REL).order_by("id").first()
    html = operator_client.get(f"/config/history/?path={REL}").content.decode()
    expected = re.search(r'name="expected" value="([0-9a-f]+)"', html)[1]
    response = operator_client.post("/config/history/restore/", {
        "path": REL, "version": first.pk, "expected": expected}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and f"Restored version #{first.pk}" in body, body
    assert (cfg.confdir / REL).read_bytes() == first.text.encode()
    assert f2b_client.jail_settings("sshd").maxretry == 4
    last = ConfigVersion.objects.filter(path=REL).last()
    assert (last.kind, last.verdict, last.text) == ("restored", "passed", first.text)
    assert f"#{first.pk}" in last.reason
    entry = AuditEntry.objects.get(action="config.restore")
    assert entry.result == "ok" and entry.target == REL


def test_a_restore_fail2ban_refuses_is_rolled_back(cfg, operator_client, f2b_client):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    bad = history.record(REL, "[sshd]\nbantime = abc\n", ConfigVersion.SAVED, actor="x")
    ConfigVersion.objects.filter(pk=bad.pk).update(applied=False)  # never on disk
    before = snapshot(cfg.confdir)
    response = operator_client.post("/config/history/restore/", {
        "path": REL, "version": bad.pk}, **HX)
    assert "Rolled back." in response.content.decode()
    assert snapshot(cfg.confdir) == before
    assert f2b_client.jail_settings("sshd").maxretry == 4
    assert AuditEntry.objects.get(action="config.restore").result == "failed"
    assert _kinds()[-1] == ("rolled_back", "failed", False)


def test_a_restore_over_a_change_outside_bangui_is_refused(cfg, operator_client):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    _save(operator_client, "[sshd]\nmaxretry = 5\n")
    first = ConfigVersion.objects.filter(path=REL).order_by("id").first()
    (cfg.confdir / REL).write_text("[sshd]\nmaxretry = 6\n")
    response = operator_client.post("/config/history/restore/", {
        "path": REL, "version": first.pk}, **HX)
    assert response.status_code == 409 and "Nothing was restored" in response.content.decode()
    assert (cfg.confdir / REL).read_text() == "[sshd]\nmaxretry = 6\n"


def test_only_config_editors_restore(cfg, operator_client, viewer_client, settings):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    _save(operator_client, "[sshd]\nmaxretry = 5\n")
    first = ConfigVersion.objects.filter(path=REL).order_by("id").first()
    data = {"path": REL, "version": first.pk}
    assert viewer_client.get(f"/config/history/?path={REL}").status_code == 200
    assert viewer_client.post("/config/history/restore/", data, **HX).status_code == 403
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False  # operators do not edit config here
    assert operator_client.post("/config/history/restore/", data, **HX).status_code == 403
    assert "Restore" not in operator_client.get(f"/config/history/?path={REL}").content.decode()
    assert (cfg.confdir / REL).read_text() == "[sshd]\nmaxretry = 5\n"
    assert not AuditEntry.objects.filter(action="config.restore", result="ok").exists()


def test_an_unknown_version_is_refused(cfg, operator_client):
    response = operator_client.post("/config/history/restore/", {"path": REL,
                                                                 "version": "999"}, **HX)
    assert response.status_code == 400 and "has no version" in response.content.decode()


def test_show_changes_renders_the_diff_and_writes_nothing(cfg, operator_client):
    _save(operator_client, "[sshd]\nmaxretry = 4\n")
    before = snapshot(cfg.confdir)
    count = ConfigVersion.objects.count()
    version = config_files.read(REL).version
    response = operator_client.post("/config/file/preview/", {
        "path": REL, "version": version, "text": "[sshd]\nmaxretry = 6\n"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="preview"' in html
    assert '<span class="diff-line diff-del">-maxretry = 4' in html
    assert '<span class="diff-line diff-add">+maxretry = 6' in html
    assert re.search(r"<textarea[^>]*>\s*\[sshd\]\nmaxretry = 6\n</textarea>", html)  # kept
    assert f'value="{version}"' in html  # the version the editor had: a save is still checked
    assert "moved" not in html and "saving will be refused" not in html
    assert snapshot(cfg.confdir) == before and ConfigVersion.objects.count() == count
    (cfg.confdir / REL).write_text("[sshd]\nmaxretry = 5\n")
    html = operator_client.post("/config/file/preview/", {
        "path": REL, "version": version, "text": "[sshd]\nmaxretry = 6\n"},
        **HX).content.decode()
    assert "saving will be refused" in html and "-maxretry = 5" in html


def test_show_changes_is_for_config_editors(cfg, viewer_client):
    response = viewer_client.post("/config/file/preview/", {
        "path": REL, "version": "absent", "text": "x"}, **HX)
    assert response.status_code == 403


def test_provisioning_and_filters_are_versions_with_their_actor(cfg, operator_client,
                                                                operator_user):
    operator_client.post("/config/provision/", **HX)
    rows = ConfigVersion.objects.filter(path__startswith="jail.d/bangui-")
    assert rows.exists() and {(r.kind, r.actor) for r in rows} == {
        ("created", operator_user.username)}
    assert {r.reason for r in rows} == {"BanGUI's own jails provisioned"}


def test_the_structured_editors_name_their_user(cfg, operator_client, operator_user):
    operator_client.post("/jails/sshd/settings/", {"maxretry": "6"}, **HX)
    row = ConfigVersion.objects.get(path="jail.d/sshd.local")
    assert (row.kind, row.actor, row.verdict) == ("created", operator_user.username, "passed")
