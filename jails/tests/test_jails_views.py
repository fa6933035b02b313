"""The jails list and jail pages, with their actions, against the real sandbox."""

import re

import pytest
from django.core.management import call_command

from accounts.models import AuditEntry
from accounts.tests.state_changing import StateChanging
from jails.fail2ban import Fail2banClient
from jails.live import banned

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def jails(f2b, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": str(tmp_path)}}
    return f2b


def _last_audit(action):
    return AuditEntry.objects.filter(action=action).order_by("-id").first()


def test_it_lists_running_and_inactive_jails(jails, viewer_client):
    response = viewer_client.get("/jails/")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert 'href="/jails/sshd/"' in html and "nginx-http-auth" in html
    assert "polling" in html
    assert 'data-testid="inactive-jails"' in html and "/jails/postfix/" in html
    assert "Enable" not in html  # viewers see no buttons


def test_the_list_shows_each_jails_times_from_two_connections_whatever_the_jails(
        jails, viewer_client, f2b_client, monkeypatch):
    """#29: the list reads the overview the status bar reads (once a
    request) and the three times of every jail on one connection, not
    eight ``get`` on a connection per jail: the same cells as fail2ban's own
    answers."""
    before = (f2b_client.call("get", "sshd", "maxretry"),
              f2b_client.call("get", "nginx-http-auth", "bantime"))
    f2b_client.call("set", "sshd", "maxretry", "7")
    f2b_client.call("set", "nginx-http-auth", "bantime", "86400")
    try:
        connects = []
        real = Fail2banClient._connect
        monkeypatch.setattr(Fail2banClient, "_connect",
                            lambda self: connects.append(1) or real(self))
        html = viewer_client.get("/jails/").content.decode()
        monkeypatch.undo()
        assert len(connects) == 2  # the overview (status bar included), the times
        for name in f2b_client.jail_names():
            js = f2b_client.jail_settings(name)
            row = html[html.index(f'href="/jails/{name}/"'):].split("</tr>")[0]
            cells = re.findall(r'<td class="num">([^<]*)</td>', row)
            assert cells[-3:] == [f"{js.bantime:,}", f"{js.findtime:,}", str(js.maxretry)], name
        assert "86,400" in html
    finally:  # the sandbox is the session's
        f2b_client.call("set", "sshd", "maxretry", str(before[0]))
        f2b_client.call("set", "nginx-http-auth", "bantime", str(before[1]))


def test_it_serves_the_jail_table_fragment(jails, viewer_client):
    response = viewer_client.get("/jails/", **HX)
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section id="jail-table"')
    assert response["Vary"].find("HX-Request") >= 0


def test_it_shows_a_jail_with_its_settings_and_bans(jails, f2b_client, operator_client):
    f2b_client.ban("sshd", ["203.0.113.5", "2001:db8::5"])
    html = operator_client.get("/jails/sshd/").content.decode()
    assert "<html" in html and 'data-testid="maxretry">3<' in html
    assert "203.0.113.5" in html and "2001:db8::5" in html
    assert str(jails.log_path("sshd")) in html
    assert "127.0.0.0/8" in html  # ignore list
    assert "Unban all" in html


def test_it_pages_and_searches_bans_on_the_server(jails, f2b_client, viewer_client):
    f2b_client.ban("sshd", [f"198.51.100.{i}" for i in range(1, 121)])
    assert banned.banned_page("sshd", page=3).source == "db"
    last = viewer_client.get("/jails/sshd/?page=3", **HX).content.decode()
    assert "101\u2013120 of 120" in last and "page 3 of 3" in last
    assert last.count('<td class="ip">') == 20
    response = viewer_client.get("/jails/sshd/?q=198.51.100.11&page=1", **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="banned-ips"')
    assert "198.51.100.110" in html and "198.51.100.119" in html and "198.51.100.12<" not in html
    assert "of 11" in html
    full = viewer_client.get("/jails/sshd/?q=198.51.100.11").content.decode()
    assert "<html" in full and "198.51.100.110" in full


def test_it_falls_back_to_the_socket_without_a_db(f2b_without_db, viewer_client):
    client = Fail2banClient(str(f2b_without_db.socket))
    assert client.dbfile() is None  # dbfile = :memory:
    client.ban("sshd", ["203.0.113.8", "203.0.113.9"])
    assert banned.banned_page("sshd", query="113.9").source == "socket"
    html = viewer_client.get("/jails/sshd/?q=113.9", **HX).content.decode()
    assert html.lstrip().startswith('<section id="banned-ips"')
    assert "203.0.113.9" in html and "203.0.113.8" not in html
    assert re.search(r">(59m|1h) left<", html), html  # its 3600 s bantime


def test_it_shows_a_friendly_404_for_an_unknown_jail(jails, viewer_client):
    response = viewer_client.get("/jails/nosuchjail/")
    assert response.status_code == 404
    assert "No jail named" in response.content.decode()
    assert viewer_client.get("/jails/bad%20name/").status_code == 404


def test_it_bans_and_unbans_with_audit(jails, f2b_client, operator_client):
    response = operator_client.post("/jails/sshd/ban/", {"ips": "203.0.113.20, 2001:db8::20"},
                                    **HX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="jail-main"')
    assert "Banned 203.0.113.20, 2001:db8::20 in sshd" in html
    assert set(f2b_client.jail_status("sshd").banned_ips) == {"203.0.113.20", "2001:db8::20"}
    assert _last_audit("ban").result == "ok"

    response = operator_client.post("/jails/sshd/unban/", {"ip": "203.0.113.20"})
    assert response.status_code == 302 and response["Location"] == "/jails/sshd/"
    assert f2b_client.jail_status("sshd").banned_ips == ["2001:db8::20"]
    assert _last_audit("unban").target == "sshd 203.0.113.20"


def test_it_refuses_invalid_ips_and_sends_nothing(jails, f2b_client, operator_client):
    html = operator_client.post("/jails/sshd/ban/", {"ips": "203.0.113.1 not-an-ip"},
                                **HX).content.decode()
    assert "not-an-ip" in html and "nothing was sent" in html
    assert f2b_client.jail_status("sshd").banned_ips == []
    assert _last_audit("ban").result == "failed"


def test_it_shows_fail2ban_errors_inline(jails, operator_client):
    html = operator_client.post("/jails/nosuchjail/ban/", {"ips": "203.0.113.1"},
                                **HX).content.decode()
    assert "no jail named" in html
    assert _last_audit("ban").result == "failed"


def test_it_unbans_all_in_one_jail(jails, f2b_client, operator_client):
    f2b_client.ban("sshd", ["203.0.113.30", "203.0.113.31"])
    f2b_client.ban("nginx-http-auth", ["203.0.113.32"])
    html = operator_client.post("/jails/sshd/unban-all/", **HX).content.decode()
    assert "Unbanned all 2 IPs from sshd" in html
    assert f2b_client.jail_status("sshd").banned_ips == []
    assert f2b_client.jail_status("nginx-http-auth").banned_ips == ["203.0.113.32"]
    assert _last_audit("jail.unban_all").result == "ok"


def test_it_stops_starts_idles_and_reloads_a_jail(jails, f2b_client, operator_client):
    assert "Stopped sshd" in operator_client.post("/jails/sshd/stop/", **HX).content.decode()
    assert "sshd" not in f2b_client.jail_names()
    assert "Started sshd" in operator_client.post("/jails/sshd/start/", **HX).content.decode()
    assert "sshd" in f2b_client.jail_names()
    html = operator_client.post("/jails/sshd/idle/", {"on": "on"}, **HX).content.decode()
    assert "sshd is idle" in html
    html = operator_client.post("/jails/sshd/idle/", **HX).content.decode()
    assert "sshd is watching again" in html
    assert "Reloaded sshd" in operator_client.post("/jails/sshd/reload/",
                                                   **HX).content.decode()
    for action in ("jail.stop", "jail.start", "jail.idle", "jail.reload"):
        assert _last_audit(action).result == "ok"


def test_it_edits_the_ignore_list(jails, f2b_client, operator_client):
    operator_client.post("/jails/sshd/ignore/add/", {"value": "192.0.2.0/24"}, **HX)
    assert "192.0.2.0/24" in f2b_client.jail_settings("sshd").ignore_ips
    html = operator_client.post("/jails/sshd/ignore/add/", {"value": "nope"},
                                **HX).content.decode()
    assert "not a valid IP address or CIDR" in html
    operator_client.post("/jails/sshd/ignore/remove/", {"value": "192.0.2.0/24"}, **HX)
    assert "192.0.2.0/24" not in f2b_client.jail_settings("sshd").ignore_ips
    operator_client.post("/jails/sshd/ignore/self/", {"on": "on"}, **HX)
    assert f2b_client.jail_settings("sshd").ignore_self is True
    assert _last_audit("jail.ignore_self").target == "sshd on"


def test_it_enables_a_jail_and_edits_its_settings(jails, f2b_client, operator_client):
    html = operator_client.post("/jails/postfix/enable/", **HX).content.decode()
    assert "Enabled postfix" in html, html
    assert "postfix" in f2b_client.jail_names()
    html = operator_client.post("/jails/postfix/settings/", {"maxretry": "9", "bantime": "2h"},
                                **HX).content.decode()
    assert "Updated" in html
    assert f2b_client.jail_settings("postfix").maxretry == 9
    assert f2b_client.jail_settings("postfix").bantime == 7200
    assert "maxretry = 9" in (jails.confdir / "jail.d" / "postfix.local").read_text()
    html = operator_client.post("/jails/postfix/settings/", {"bantime": "soon"},
                                **HX).content.decode()
    assert "use seconds" in html
    assert _last_audit("jail.enable").result == "ok"
    assert _last_audit("config.jail").result == "failed"


def test_defined_in_names_the_defining_file_and_its_overrides(jails, f2b_client,
                                                               operator_client):
    """#28 item 6: it said "Defined in jail.d/sshd.local · overrides in
    jail.d/sshd.local" for a jail of jail.conf, and linked a file that did
    not exist yet."""
    def defined_in(html: str) -> str:
        return html.split('data-testid="defined-in">', 1)[1].split("</dd>", 1)[0]

    html = operator_client.get("/jails/postfix/").content.decode()
    assert defined_in(html) == "jail.conf"
    assert "jail.d/postfix.local</span> <span class=\"help\">(created by the first change" in html
    operator_client.post("/jails/postfix/settings/", {"maxretry": "9"}, **HX)
    html = operator_client.get("/jails/postfix/").content.decode()
    assert defined_in(html) == ('jail.conf · overridden in <a href="/config/file/?path=jail.d/'
                                'postfix.local">jail.d/postfix.local</a>')
    assert "created by the first change" not in html


def test_it_reports_a_rolled_back_jail_change(jails, f2b_client, operator_client):
    html = operator_client.post("/jails/sshd/settings/", {"logpath": "/nonexistent/a.log"},
                                **HX).content.decode()
    assert "Have not found any log file" in html
    assert not (jails.confdir / "jail.d" / "sshd.local").exists()


def test_it_provisions_with_the_command(jails, f2b_client):
    call_command("provision_jails")
    assert {"manual", "blocklist-import"} <= set(f2b_client.jail_names())
    assert (jails.confdir / "jail.d" / "bangui-manual.local").exists()


JAIL_ACTIONS = ["jail_ban", "jail_unban", "jail_unban_all", "jail_start", "jail_stop",
                "jail_reload", "jail_idle", "jail_ignore_add", "jail_ignore_remove",
                "jail_ignore_self", "jail_enable", "jail_disable", "jail_settings"]


@pytest.mark.parametrize("url_name", JAIL_ACTIONS)
def test_it_forbids_viewers_every_jail_action(jails, f2b_client, viewer_client, url_name):
    f2b_client.ban("sshd", ["203.0.113.40"])
    url = StateChanging(url_name, {"name": "sshd"}).url()
    assert viewer_client.post(url, {"ips": "203.0.113.41", "ip": "203.0.113.40",
                                    "value": "192.0.2.1"}).status_code == 403
    assert viewer_client.get(url).status_code in (403, 405)
    assert f2b_client.jail_status("sshd").banned_ips == ["203.0.113.40"]
    assert "sshd" in f2b_client.jail_names()


def test_it_needs_csrf_for_actions(jails, operator_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_user)
    assert client.post("/jails/sshd/ban/", {"ips": "203.0.113.50"}).status_code == 403


def test_the_jail_page_says_the_last_pause_made_here(jails, f2b_client, operator_client):
    html = operator_client.get("/jails/sshd/").content.decode()
    assert "fail2ban does not report whether a jail is paused" in html
    html = operator_client.post("/jails/sshd/idle/", {"on": "on"}, **HX).content.decode()
    assert "Last set here: paused by operator" in html
    html = operator_client.post("/jails/sshd/idle/", {}, **HX).content.decode()
    assert "Last set here: resumed by operator" in html


def test_only_config_editors_point_a_jail_at_other_log_files(jails, f2b_client, operator_client,
                                                              settings):
    """An operator who may not edit the config (BANGUI_OPERATORS_EDIT_CONFIG
    off) changes a jail's numbers, not its log files: a file root can read
    would show its matching lines to every viewer."""
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False
    page = operator_client.get("/jails/sshd/").content.decode()
    assert "log files needs permission to edit the configuration" in page
    html = operator_client.post("/jails/sshd/settings/", {"logpath": "/etc/shadow"},
                                **HX).content.decode()
    assert "log files needs permission to edit the configuration" in html
    assert not (jails.confdir / "jail.d" / "sshd.local").exists()
    html = operator_client.post("/jails/sshd/settings/", {"maxretry": "8"},
                                **HX).content.decode()
    assert "Updated maxretry of sshd." in html
    assert f2b_client.jail_settings("sshd").maxretry == 8
