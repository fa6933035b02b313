"""The config editor, server settings and provisioning over HTTP."""

import pytest

from accounts.models import AuditEntry
from jails.config import files as config_files
from jails.tests.conftest import snapshot

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_it_lists_the_config_files(cfg, viewer_client):
    html = viewer_client.get("/config/").content.decode()
    assert "jail.conf" in html and "filter.d/sshd.conf" in html and "action.d/" in html
    assert "manual" in html  # BanGUI's jails are missing in the sandbox
    assert "Create filter" not in html  # viewer
    assert viewer_client.get("/config/", **HX).content.decode().lstrip().startswith(
        '<section id="config-files"')


def test_it_shows_a_conf_read_only_with_its_override(cfg, operator_client):
    html = operator_client.get("/config/file/?path=filter.d/sshd.conf").content.decode()
    assert "<html" in html and "read-only" in html and "filter.d/sshd.local" in html
    assert "<textarea" not in html
    frag = operator_client.get("/config/file/?path=jail.d/sshd.local", **HX).content.decode()
    assert frag.lstrip().startswith('<section id="file-editor"') and "<textarea" in frag


def test_it_saves_a_local_and_reloads(cfg, f2b_client, operator_client):
    page = operator_client.get("/config/file/?path=jail.d/sshd.local")
    version = page.context["form"].initial["version"]
    response = operator_client.post("/config/file/save/", {
        "path": "jail.d/sshd.local", "version": version, "text": "[sshd]\nmaxretry = 8\n"},
        **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "fail2ban reloaded" in html, html
    assert f2b_client.jail_settings("sshd").maxretry == 8
    entry = AuditEntry.objects.get(action="config.save")
    assert entry.result == "ok" and entry.target == "jail.d/sshd.local"


def test_it_refuses_a_stale_edit_and_keeps_the_text(cfg, operator_client):
    local = cfg.confdir / "jail.d" / "sshd.local"
    local.write_text("[sshd]\nmaxretry = 4\n")
    seen = config_files.content_hash(local.read_bytes())
    local.write_text("[sshd]\nmaxretry = 5\n")
    response = operator_client.post("/config/file/save/", {
        "path": "jail.d/sshd.local", "version": seen, "text": "[sshd]\nmaxretry = 6\n"})
    html = response.content.decode()
    assert response.status_code == 409
    assert "changed by someone else" in html and "maxretry = 6" in html
    assert "-maxretry = 5" in html and "+maxretry = 6" in html
    assert local.read_text() == "[sshd]\nmaxretry = 5\n"
    assert AuditEntry.objects.get(action="config.save").result == "failed"


def test_it_rolls_back_over_http_with_a_banner(cfg, f2b_client, operator_client):
    before = snapshot(cfg.confdir)
    response = operator_client.post("/config/file/save/", {
        "path": "jail.d/sshd.local", "version": "absent", "text": "[sshd]\nbantime = abc\n"},
        **HX)
    html = response.content.decode()
    assert "Rolled back." in html and "rolled it back" in html
    assert snapshot(cfg.confdir) == before
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]
    assert AuditEntry.objects.get(action="config.save").result == "failed"


def test_the_rollback_banner_stays_until_the_next_change_succeeds(cfg, operator_client,
                                                                  viewer_client):
    operator_client.post("/config/file/save/", {
        "path": "jail.d/sshd.local", "version": "absent", "text": "[sshd]\nbantime = abc\n"})
    page = viewer_client.get("/config/").content.decode()  # another user, a later visit
    assert 'data-testid="rollback-banner"' in page and "jail.d/sshd.local" in page
    operator_client.post("/config/file/save/", {
        "path": "jail.d/sshd.local", "version": "absent", "text": "[sshd]\nbantime = 7200\n"})
    assert 'data-testid="rollback-banner"' not in viewer_client.get("/config/").content.decode()


@pytest.mark.parametrize("path", [
    "../../etc/passwd", "/etc/passwd", "jail.d/../../../etc/passwd", "jail.d/x\x00.local",
    "jail.conf",
])
def test_it_refuses_bad_paths_over_http(cfg, operator_client, path):
    before = snapshot(cfg.confdir)
    response = operator_client.post("/config/file/save/", {
        "path": path, "version": "absent", "text": "[x]\n"})
    assert response.status_code == 400
    assert snapshot(cfg.confdir) == before
    assert AuditEntry.objects.get(action="config.save").result == "failed"


@pytest.mark.parametrize("query", [
    "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "jail.d%2F..%2F..%2Fx.local",
    "jail.d/x%00.local", "%2e%2e/%2e%2e/etc/passwd", "jail.d%5c..%5cx.local",
])
def test_it_refuses_url_encoded_traversal_on_read(cfg, viewer_client, query):
    response = viewer_client.get(f"/config/file/?path={query}")
    assert response.status_code == 400
    assert "root:" not in response.content.decode()


def test_it_refuses_oversize_content_over_http(cfg, operator_client):
    text = "[sshd]\n" + "#" * (config_files.MAX_BYTES + 1)
    response = operator_client.post("/config/file/save/", {
        "path": "jail.d/big.local", "version": "absent", "text": text})
    assert response.status_code == 400 and "512 KB" in response.content.decode()
    assert not (cfg.confdir / "jail.d" / "big.local").exists()


def test_it_creates_a_filter_and_refuses_a_broken_one(cfg, operator_client):
    response = operator_client.post("/config/filters/create/", {
        "name": "myapp", "failregex": "^login failed from <HOST>$"}, **HX)
    assert response.status_code == 200, response.content.decode()
    assert (cfg.confdir / "filter.d" / "myapp.local").exists()
    response = operator_client.post("/config/filters/create/", {
        "name": "broken", "failregex": "^login failed from (<HOST>$"}, **HX)
    assert response.status_code == 400
    assert "cannot use this filter" in response.content.decode()
    assert not (cfg.confdir / "filter.d" / "broken.local").exists()
    assert [e.result for e in AuditEntry.objects.filter(
        action="config.filter_create").order_by("id")] == ["ok", "failed"]


def test_it_provisions_from_the_config_page(cfg, f2b_client, operator_client):
    html = operator_client.post("/config/provision/", **HX).content.decode()
    assert "fail2ban reloaded" in html
    assert {"manual", "blocklist-import"} <= set(f2b_client.jail_names())
    assert AuditEntry.objects.get(action="config.provision").result == "ok"


def test_it_changes_server_settings(cfg, f2b_client, operator_client, settings):
    settings.BANGUI_LOGTARGET_DIRS = [str(cfg.logdir)]
    page = operator_client.get("/config/server/")
    assert 'data-testid="loglevel">INFO' in page.content.decode()
    frag = operator_client.get("/config/server/", **HX).content.decode()
    assert frag.lstrip().startswith('<section id="server-settings"')
    try:
        html = operator_client.post("/config/server/save/", {
            "loglevel": "DEBUG", "logtarget": "FILE", "logfile": str(cfg.server_log),
            "dbpurgeage": "172800"}, **HX).content.decode()
        assert "Set loglevel DEBUG" in html and "in fail2ban.local" in html
        assert f2b_client.server_settings().dbpurgeage == 172800
        local = (cfg.confdir / "fail2ban.local").read_text()
        assert "loglevel = DEBUG" in local and "dbpurgeage = 172800" in local
        cfg.stop()  # the settings are in the config now: they survive a restart
        cfg.start()
        assert f2b_client.server_settings().dbpurgeage == 172800
        assert f2b_client.server_settings().loglevel == "DEBUG"
        html = operator_client.post("/config/server/save/", {
            "loglevel": "INFO", "logtarget": "FILE", "logfile": "/etc/evil.log",
            "dbpurgeage": "86400"}, **HX).content.decode()
        assert "must be inside" in html
        assert f2b_client.server_settings().loglevel == "DEBUG"
        actions = list(AuditEntry.objects.filter(action="settings.fail2ban")
                       .order_by("id").values_list("result", flat=True))
        assert actions == ["ok", "failed"]
    finally:
        f2b_client.set_loglevel("INFO")
        f2b_client.set_dbpurgeage(86400)


@pytest.mark.parametrize("url", ["/config/file/save/", "/config/filters/create/",
                                 "/config/provision/", "/config/server/save/"])
def test_it_forbids_viewers_config_changes(cfg, viewer_client, url):
    before = snapshot(cfg.confdir)
    response = viewer_client.post(url, {"path": "jail.d/x.local", "version": "absent",
                                        "text": "[sshd]\n", "name": "x",
                                        "failregex": "^<HOST>$"})
    assert response.status_code == 403
    assert snapshot(cfg.confdir) == before
