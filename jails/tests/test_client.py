"""The fail2ban client against a real, sandboxed fail2ban-server."""

import re

import pytest

from conftest import wait_for
from jails.fail2ban import (
    CommandError,
    Fail2banCli,
    Fail2banClient,
    InvalidInput,
    UnknownJail,
    Unreachable,
)


@pytest.fixture
def cli(f2b) -> Fail2banCli:
    return Fail2banCli(str(f2b.confdir), str(f2b.socket))


def test_it_pings_and_reads_the_version(f2b, f2b_client):
    assert f2b_client.ping() is True
    assert f2b_client.version() == f2b.version()
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", f2b_client.version())


def test_it_lists_running_jails(f2b_client):
    status = f2b_client.server_status()
    assert status.jails == ["nginx-http-auth", "sshd"]


def test_it_reads_the_jails_and_the_database_file_and_every_jails_times_on_one_connection(
        f2b, f2b_client):
    assert f2b_client.jails_and_dbfile() == (f2b_client.jail_names(), f2b_client.dbfile())
    assert f2b_client.dbfile() == str(f2b.dbfile)
    times = f2b_client.jail_times(["sshd", "nginx-http-auth"])
    for name, (bantime, findtime, maxretry) in times.items():
        js = f2b_client.jail_settings(name)
        assert (bantime, findtime, maxretry) == (js.bantime, js.findtime, js.maxretry)


def test_it_sees_a_real_detection(f2b, f2b_client):
    f2b.write_failures("sshd", "192.0.2.10", 3)
    assert wait_for(lambda: "192.0.2.10" in f2b_client.jail_status("sshd").banned_ips)
    status = f2b_client.jail_status("sshd")
    assert status.currently_banned == 1
    assert status.total_failed >= 3
    assert status.file_list == [str(f2b.log_path("sshd"))]


def test_it_detects_web_auth_failures(f2b, f2b_client):
    f2b.write_failures("nginx-http-auth", "198.51.100.23", 3)
    assert wait_for(
        lambda: "198.51.100.23" in f2b_client.jail_status("nginx-http-auth").banned_ips)


def test_it_bans_and_unbans_ipv4_and_ipv6(f2b_client):
    assert f2b_client.ban("sshd", ["203.0.113.5", "2001:db8::5"]) == 2
    assert sorted(f2b_client.jail_status("sshd").banned_ips) == ["2001:db8::5", "203.0.113.5"]
    assert f2b_client.unban("sshd", ["2001:DB8:0::5"]) == 1  # normalised before sending
    assert f2b_client.jail_status("sshd").banned_ips == ["203.0.113.5"]


def test_it_sends_many_addresses_in_commands_of_at_most_bulk_batch_on_one_connection(
        f2b_client, monkeypatch):
    """fail2ban runs the jail's actions inside banip (sshd's dummy: a shell
    per address), so each command of at most BULK_BATCH gets its own
    deadline; one connection for all of them."""
    from jails.fail2ban import client as client_module

    sent, connections = [], []
    call_many, connect = client_module._Connection.call_many, Fail2banClient._connect

    def spy_call_many(self, *commands):
        sent.extend(list(c) for c in commands)
        return call_many(self, *commands)

    def spy_connect(self):
        connections.append(self.socket_path)
        return connect(self)

    monkeypatch.setattr(client_module._Connection, "call_many", spy_call_many)
    monkeypatch.setattr(Fail2banClient, "_connect", spy_connect)
    batch = client_module.BULK_BATCH
    ips = [f"10.9.{i // 250}.{1 + i % 250}" for i in range(2 * batch + 50)]
    assert f2b_client.ban("sshd", ips) == len(ips)
    assert [c[:3] for c in sent] == [["set", "sshd", "banip"]] * 3
    assert [c[3:] for c in sent] == [ips[:batch], ips[batch:2 * batch], ips[2 * batch:]]
    assert len(connections) == 1
    assert sorted(f2b_client.jail_status("sshd").banned_ips) == sorted(ips)
    sent.clear()
    assert f2b_client.unban("sshd", ips[:batch + 1]) == batch + 1
    assert [len(c) - 3 for c in sent] == [batch, 1]
    sent.clear()
    assert f2b_client.unban_everywhere(ips[batch + 1:]) == len(ips) - batch - 1
    assert [c[0] for c in sent] == ["unban", "unban"]
    assert f2b_client.jail_status("sshd").banned_ips == []
    sent.clear()
    assert f2b_client.ban("sshd", ips, batch=len(ips)) == len(ips)  # the import's own size
    assert [len(c) - 3 for c in sent] == [len(ips)]


def test_it_reads_ban_start_and_end(f2b_client):
    f2b_client.ban("sshd", ["203.0.113.6"])
    (entry,) = f2b_client.banned_with_time("sshd")
    assert entry.ip == "203.0.113.6"
    assert entry.bantime == 3600
    assert (entry.ends_at - entry.banned_at).total_seconds() == 3600
    assert entry.banned_at.tzinfo is not None


def test_it_refuses_invalid_ips_before_sending(f2b_client):
    with pytest.raises(InvalidInput, match="not-an-ip"):
        f2b_client.ban("sshd", ["203.0.113.7", "not-an-ip"])
    # Nothing reached fail2ban, not even the valid address.
    assert f2b_client.jail_status("sshd").banned_ips == []


def test_it_refuses_odd_jail_names(f2b_client):
    with pytest.raises(InvalidInput):
        f2b_client.jail_status("--help")


def test_it_names_an_unknown_jail(f2b_client):
    with pytest.raises(UnknownJail, match="no jail named 'nojail'"):
        f2b_client.ban("nojail", ["203.0.113.8"])


def test_it_reports_a_refused_command(f2b_client):
    with pytest.raises(CommandError) as info:
        f2b_client.call("get", "sshd", "backend")  # not a command in 1.0.2
    assert "Invalid command" in str(info.value)


def test_it_finds_the_jails_of_an_ip_and_unbans_everywhere(f2b_client):
    f2b_client.ban("sshd", ["203.0.113.9"])
    f2b_client.ban("nginx-http-auth", ["203.0.113.9"])
    assert sorted(f2b_client.jails_of_ip("203.0.113.9")) == ["nginx-http-auth", "sshd"]
    assert f2b_client.unban_everywhere(["203.0.113.9"]) == 2  # one per jail
    assert f2b_client.jails_of_ip("203.0.113.9") == []


def test_it_unbans_all(f2b_client):
    f2b_client.ban("sshd", ["203.0.113.10", "203.0.113.11"])
    f2b_client.ban("nginx-http-auth", ["203.0.113.12"])
    assert f2b_client.unban_all() == 3
    assert f2b_client.overview().currently_banned == 0


def test_it_reads_jail_settings_with_backend_from_config(f2b_client, cli):
    backends = cli.jail_backends()
    assert backends == {"sshd": "polling", "nginx-http-auth": "polling"}
    settings = f2b_client.jail_settings("sshd", backends["sshd"])
    assert (settings.bantime, settings.findtime, settings.maxretry) == (3600, 600, 3)
    assert settings.backend == "polling"
    assert settings.actions == ["dummy"]
    assert settings.ignore_self is False


def test_it_edits_the_ignore_list(f2b_client):
    assert "10.0.0.0/8" in f2b_client.add_ignore("sshd", "10.1.2.3/8")
    assert "10.0.0.0/8" not in f2b_client.remove_ignore("sshd", "10.0.0.0/8")
    with pytest.raises(InvalidInput):
        f2b_client.add_ignore("sshd", "10.0.0.0/99")


def test_it_toggles_ignoreself_and_idle(f2b_client):
    assert f2b_client.set_ignore_self("sshd", True) is True
    assert f2b_client.jail_settings("sshd").ignore_self is True
    f2b_client.set_ignore_self("sshd", False)
    assert f2b_client.set_idle("sshd", True) is True
    assert f2b_client.set_idle("sshd", False) is False


def test_it_reads_and_sets_server_settings(f2b, f2b_client):
    settings = f2b_client.server_settings()
    assert settings.loglevel == "INFO"
    assert settings.dbfile == str(f2b.dbfile)
    assert settings.dbpurgeage == 86400
    f2b_client.set_dbpurgeage(7 * 86400)
    f2b_client.set_loglevel("debug")
    assert f2b_client.server_settings().dbpurgeage == 7 * 86400
    assert f2b_client.server_settings().loglevel == "DEBUG"
    f2b_client.set_dbpurgeage(86400)
    f2b_client.set_loglevel("INFO")
    with pytest.raises(InvalidInput):
        f2b_client.set_loglevel("LOUD")


def test_it_stops_and_starts_a_jail_from_config(f2b_client, cli):
    f2b_client.stop_jail("nginx-http-auth")
    assert f2b_client.jail_names() == ["sshd"]
    cli.start_jail("nginx-http-auth")
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]


def test_reload_keeps_jails_and_bans(f2b_client, cli):
    f2b_client.ban("sshd", ["203.0.113.20"])
    cli.reload()
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]
    assert "203.0.113.20" in f2b_client.jail_status("sshd").banned_ips
    cli.reload("sshd")
    assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]


def test_reload_refuses_a_config_without_jails(f2b, f2b_client, cli):
    jail_conf = f2b.confdir / "jail.conf"
    original = jail_conf.read_text()
    try:
        jail_conf.write_text(original.replace("enabled = true", "enabled = false"))
        with pytest.raises(CommandError, match="enables no jail"):
            cli.reload()
        assert f2b_client.jail_names() == ["nginx-http-auth", "sshd"]
    finally:
        jail_conf.write_text(original)


def test_the_config_test_passes_on_a_good_config(cli):
    ok, message = cli.test()
    assert ok, message


def test_it_is_unreachable_when_stopped_and_recovers(f2b, f2b_client):
    f2b.stop()
    with pytest.raises(Unreachable, match="no socket at that path"):
        f2b_client.ping()
    f2b.start()
    assert f2b_client.ping()


def test_a_wrong_path_is_unreachable(tmp_path):
    client = Fail2banClient(str(tmp_path / "nope.sock"), connect_retries=0)
    with pytest.raises(Unreachable) as info:
        client.overview()
    assert str(tmp_path / "nope.sock") in str(info.value)


def test_several_commands_in_one_write_are_answered_in_order(f2b, f2b_client):
    """Pipelined (client.call_many): each answer is its own command's, the
    same as asked one at a time, on every fail2ban release of the matrix."""
    with f2b_client.session() as conn:
        answers = conn.call_many(["version"], ["status"], ["get", "sshd", "maxretry"],
                                 ["status", "sshd", "short"], ["get", "dbfile"])
    one_by_one = [f2b_client.call("version"), f2b_client.call("status"),
                  f2b_client.call("get", "sshd", "maxretry"),
                  f2b_client.call("status", "sshd", "short"), f2b_client.call("get", "dbfile")]
    assert answers == one_by_one
    overview = f2b_client.overview()
    assert [j.name for j in overview.jails] == ["nginx-http-auth", "sshd"]
    assert overview.version == f2b.version()
    settings = f2b_client.jail_settings("sshd")
    assert (settings.bantime, settings.maxretry) == (
        int(f2b_client.call("get", "sshd", "bantime")), answers[2])


def test_a_refusal_among_several_commands_is_raised_after_every_answer(f2b_client):
    with f2b_client.session() as conn:
        with pytest.raises(UnknownJail):
            conn.call_many(["version"], ["get", "nosuchjail", "bantime"], ["status"])
        # every answer was read: the next command on the connection gets its own
        assert conn.call("get", "sshd", "maxretry") == f2b_client.jail_settings("sshd").maxretry
