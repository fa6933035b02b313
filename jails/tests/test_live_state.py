"""Live state at scale, against a real fail2ban holding thousands of bans in
several jails: the "Now" column and the IP page agree with ``fail2ban-client
status`` whoever banned or unbanned (BanGUI, fail2ban-client, expiry), the
socket traffic of a page does not grow with the bans fail2ban holds, and
bulk actions (unban all, jail stop, a restart) leave the archive right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import wait_for
from jails.archive import sync as archive
from jails.fail2ban import Fail2banClient
from jails.fail2ban import client as client_module
from jails.fail2ban.testing import Sandbox, SandboxJail
from jails.models import BanEvent

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
# Jails without actions take thousands of bans in milliseconds; "quick"
# bans for 2 s, for expiry.
JAILS = (
    SandboxJail("alpha", "sshd", "alpha.log", actions=False),
    SandboxJail("beta", "sshd", "beta.log", actions=False),
    SandboxJail("gamma", "sshd", "gamma.log", actions=False),
    SandboxJail("quick", "sshd", "quick.log", bantime=2, actions=False),
)
WANTED = {j.name for j in JAILS}


@pytest.fixture(scope="module")
def crowd_sandbox(tmp_path_factory):
    sandbox = Sandbox(Path(tmp_path_factory.mktemp("f2b-crowd")), jails=JAILS)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def crowd(crowd_sandbox: Sandbox, settings) -> Sandbox:
    """The crowd sandbox with every jail running and no bans; BanGUI on it."""
    client = Fail2banClient(str(crowd_sandbox.socket))
    if not crowd_sandbox.is_running() or set(client.jail_names()) != WANTED:
        crowd_sandbox.stop()
        crowd_sandbox.start()
    client.unban_all()
    settings.FAIL2BAN_SOCKET = str(crowd_sandbox.socket)
    settings.FAIL2BAN_CONFIG_DIR = str(crowd_sandbox.confdir)
    return crowd_sandbox


def _ips(prefix: str, n: int) -> list[str]:
    return [f"{prefix}.{i // 100}.{i % 100 + 1}" for i in range(n)]


def _fill(sandbox: Sandbox, per_jail: int) -> dict[str, list[str]]:
    client = Fail2banClient(str(sandbox.socket), timeout=60)
    filled = {}
    for n, jail in enumerate(("alpha", "beta", "gamma"), start=1):
        ips = _ips(f"10.{n}", per_jail)
        client.ban(jail, ips)
        filled[jail] = ips
    for jail, ips in filled.items():
        _settled(sandbox, jail, len(ips))
    return filled


def _settled(sandbox: Sandbox, jail: str, n: int) -> None:
    """Wait until fail2ban's observer thread wrote ``n`` live bans of
    ``jail`` into its database (it does so a moment after ``banip``)."""
    import sqlite3

    def count():
        con = sqlite3.connect(f"file:{sandbox.dbfile}?mode=ro", uri=True)
        try:
            return con.execute("SELECT COUNT(*) FROM bips WHERE jail = ?", [jail]).fetchone()[0]
        finally:
            con.close()

    assert wait_for(lambda: count() >= n, timeout=30), (jail, n, count())


def _truth(sandbox: Sandbox, jail: str) -> set[str]:
    """What ``fail2ban-client status JAIL`` lists as banned."""
    out = sandbox.fail2ban_client("status", jail)
    line = next(line for line in out.splitlines() if "Banned IP list:" in line)
    return set(line.split("Banned IP list:", 1)[1].split())


ROW = re.compile(r'<tr data-ip="(?P<ip>[^"]+)" data-jail="(?P<jail>[^"]+)">(?P<body>.*?)</tr>',
                 re.S)


def _now_cells(html: str) -> dict[tuple[str, str], str]:
    """(jail, ip) -> the text of the row's "Now" cell."""
    cells = {}
    for match in ROW.finditer(html):
        cell = match["body"].split('data-testid="now">', 1)[1].split("</td>", 1)[0]
        cells[(match["jail"], match["ip"])] = re.sub(r"<[^>]+>", "", cell).split()[0]
    return cells


def _live_jails_on_ip_page(html: str) -> set[str]:
    section = html.split('id="banned-now"', 1)[1].split("</section>", 1)[0]
    return set(re.findall(r'<li data-jail="([^"]+)"', section))


def test_now_column_and_ip_page_agree_with_fail2ban_client(crowd, admin_client):
    filled = _fill(crowd, 1000)
    client = Fail2banClient(str(crowd.socket))
    client.ban("quick", ["10.9.0.1", "10.9.0.2"])
    _settled(crowd, "quick", 2)
    archive.sync(str(crowd.dbfile), fill_geo=False)

    # Through BanGUI: a ban and an unban.
    assert admin_client.post("/bans/ban/", {"ip": "10.1.200.1", "jail": "alpha"}).status_code == 302
    assert admin_client.post("/bans/unban/", {"ip": "10.1.0.5", "jail": "alpha"}).status_code == 302
    # Through fail2ban-client, behind BanGUI's back.
    crowd.fail2ban_client("set", "beta", "banip", "10.2.200.1")
    crowd.fail2ban_client("set", "beta", "unbanip", "10.2.0.7")
    # By expiry.
    assert wait_for(lambda: not _truth(crowd, "quick"), timeout=20)
    archive.sync(str(crowd.dbfile), fill_geo=False)

    truths = {jail: _truth(crowd, jail) for jail in WANTED}
    states: dict[tuple[str, str], str] = {}
    prefixes = [f"10.{n}.{k}." for n in (1, 2, 3) for k in (0, 1, 9)]
    for prefix in (*prefixes, "10.1.200.", "10.2.200.", "10.9.0."):
        cells = _now_cells(admin_client.get(f"/?per_page=200&ip={prefix}", **HX).content.decode())
        assert cells, prefix
        for (jail, ip), state in cells.items():
            assert (state == "banned") == (ip in truths[jail]), (jail, ip, state)
        states.update(cells)
    assert len(states) >= 900
    assert states[("alpha", "10.1.0.5")] == "unbanned"
    assert states[("beta", "10.2.0.7")] == "lifted"  # fail2ban-client's unban
    assert states[("quick", "10.9.0.1")] == "expired"
    assert states[("beta", "10.2.200.1")] == "banned"

    for ip in ("10.1.0.5", "10.1.0.6", "10.2.0.7", "10.2.200.1", "10.9.0.1", filled["gamma"][-1]):
        html = admin_client.get(f"/ip/{ip}/").content.decode()
        expected = {jail for jail in WANTED if ip in _truth(crowd, jail)}
        assert _live_jails_on_ip_page(html) == expected, ip
        if not expected:
            assert "is not banned in any jail right now" in html


class _Spy:
    """Counts the commands sent to fail2ban and the bytes it answered (the
    real calls go through)."""

    def __init__(self, monkeypatch):
        self.commands: list[tuple[str, ...]] = []
        self.bytes = 0
        real_call, real_read = client_module._Connection.call_many, client_module._Connection._read

        def call_many(conn, *commands):  # one command or several in one write
            self.commands += [tuple(str(c) for c in command) for command in commands]
            return real_call(conn, *commands)

        def read(conn, answers=1):
            data = real_read(conn, answers)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(client_module._Connection, "call_many", call_many)
        monkeypatch.setattr(client_module._Connection, "_read", read)

    def measure(self, get) -> tuple[list[tuple[str, ...]], int]:
        self.commands, self.bytes = [], 0
        assert get().status_code == 200
        return list(self.commands), self.bytes


PAGES = ["/", "/?window=365d", "/?window=365d&page=2", "/ip/10.1.0.9/", "/jails/",
         "/jails/alpha/", "/status/", "/map/?window=365d"]


def test_socket_traffic_per_page_does_not_grow_with_live_bans(crowd, admin_client,
                                                              monkeypatch):
    client = Fail2banClient(str(crowd.socket))
    client.ban("alpha", _ips("10.1", 60))  # a full first page of the ban table
    _settled(crowd, "alpha", 60)
    archive.sync(str(crowd.dbfile), fill_geo=False)
    spy = _Spy(monkeypatch)
    few = {}
    for url in PAGES:
        admin_client.get(url)  # warm: templates, sessions
        few[url] = spy.measure(lambda u=url: admin_client.get(u))

    _fill(crowd, 4000)  # 12,000 more live bans over three jails
    archive.sync(str(crowd.dbfile), fill_geo=False)
    for url in PAGES:
        commands, size = spy.measure(lambda u=url: admin_client.get(u))
        assert commands == few[url][0], url
        # Only the digits of the counters may grow.
        assert size - few[url][1] < 200, (url, few[url][1], size)
        assert not any(c[-2:] == ("banip", "--with-time") or c[-1:] == ("banned",)
                       for c in commands), url


def test_unban_all_and_jail_stop_archive_who_lifted_the_bans(crowd, operator_client,
                                                            admin_client):
    client = Fail2banClient(str(crowd.socket))
    client.ban("alpha", _ips("10.1", 300))
    client.ban("beta", _ips("10.2", 300))
    _settled(crowd, "alpha", 300)
    _settled(crowd, "beta", 300)
    archive.sync(str(crowd.dbfile), fill_geo=False)

    html = operator_client.post("/jails/alpha/unban-all/", **HX).content.decode()
    assert "Unbanned all 300 IPs from alpha" in html
    html = operator_client.post("/jails/beta/stop/", **HX).content.decode()
    assert "Stopped beta; its 300 bans were lifted" in html

    for jail in ("alpha", "beta"):
        rows = BanEvent.objects.filter(jail=jail)
        assert rows.count() == 300
        assert set(rows.values_list("unbanned_by", flat=True)) == {"operator"}
    states = _now_cells(admin_client.get("/?per_page=200&ip=10.", **HX).content.decode())
    assert set(states.values()) == {"unbanned"}
    page = admin_client.get("/ip/10.1.0.1/").content.decode()
    assert "by operator" in page
    assert "is not banned in any jail right now" in page


def test_a_fail2ban_restart_keeps_the_bans_it_restores_and_a_stop_behind_bangui_is_lifted(
        crowd, admin_client):
    client = Fail2banClient(str(crowd.socket))
    client.ban("gamma", _ips("10.3", 50))
    _settled(crowd, "gamma", 50)
    archive.sync(str(crowd.dbfile), fill_geo=False)

    crowd.fail2ban_client("restart")
    crowd.wait_until_ready()
    assert wait_for(lambda: len(_truth(crowd, "gamma")) == 50)
    states = _now_cells(admin_client.get("/?per_page=200&ip=10.3.", **HX).content.decode())
    assert len(states) == 50 and set(states.values()) == {"banned"}

    crowd.fail2ban_client("stop", "gamma")  # by hand: BanGUI does not know who
    states = _now_cells(admin_client.get("/?per_page=200&ip=10.3.", **HX).content.decode())
    assert set(states.values()) == {"lifted"}
    assert not BanEvent.objects.filter(jail="gamma", unbanned_at__isnull=False).exists()


def test_unreadable_database_says_unknown_with_the_reason(crowd, admin_client, monkeypatch):
    client = Fail2banClient(str(crowd.socket))
    client.ban("alpha", ["10.1.0.1"])
    _settled(crowd, "alpha", 1)
    archive.sync(str(crowd.dbfile), fill_geo=False)
    # fail2ban answers, but its database is not where it says (as for a
    # BanGUI user without read access): no socket-wide fallback.
    monkeypatch.setattr("jails.fail2ban.client._dbfile",
                        lambda path: str(crowd.root / "missing.db"))
    html = admin_client.get("/", **HX).content.decode()
    assert _now_cells(html)[("alpha", "10.1.0.1")] == "unknown"
    assert "Whether these IPs are still banned is unknown" in html
    page = admin_client.get("/ip/10.1.0.1/").content.decode()
    assert "Unknown: cannot read fail2ban&#x27;s database" in page or \
        "Unknown: fail2ban&#x27;s database" in page
