import ipaddress
import random
from collections import Counter

import pytest

from conftest import wait_for
from jails.demo_traffic import ORIGINS, TrafficGenerator, random_address
from jails.fail2ban import Fail2banClient


def test_it_uses_only_public_addresses_from_many_countries():
    rng = random.Random(1)
    for origin in ORIGINS:
        network = ipaddress.ip_network(origin.network)
        assert network.is_global, origin
        for _ in range(20):
            address = ipaddress.ip_address(random_address(origin, rng))
            assert address in network
            assert address.is_global, (origin, address)
    assert len({o.country for o in ORIGINS}) >= 10


def test_it_interleaves_attackers_and_repeats_some(tmp_path):
    logs = {"sshd": tmp_path / "auth.log", "nginx-http-auth": tmp_path / "nginx-error.log"}
    generator = TrafficGenerator(logs, rng=random.Random(3), repeat_chance=0.5)
    failures = [generator.step() for _ in range(300)]
    assert {f.jail for f in failures} == set(logs)
    per_ip = Counter(f.ip for f in failures)
    assert len(per_ip) > 30
    assert max(per_ip.values()) >= 3  # enough to reach maxretry
    # Returning attackers: some addresses show up in both jails.
    jails_per_ip = {ip: {f.jail for f in failures if f.ip == ip} for ip in per_ip}
    assert any(len(jails) == 2 for jails in jails_per_ip.values())
    lines = logs["sshd"].read_text().splitlines() + logs["nginx-http-auth"].read_text().splitlines()
    assert len(lines) == 300


def test_it_paces_itself_and_stops_when_asked(tmp_path):
    generator = TrafficGenerator({"sshd": tmp_path / "auth.log"}, rng=random.Random(5))
    waits = []

    def should_stop(seconds: float) -> bool:
        waits.append(seconds)
        return generator.lines_written >= 5

    assert generator.run(30, should_stop) == 5
    pauses = [w for w in waits if w]
    assert pauses and all(1.0 <= w <= 3.0 for w in pauses)  # 30 a minute: 2 s +- 50 %


def test_it_rejects_a_jail_it_cannot_write_for(tmp_path):
    with pytest.raises(ValueError, match="postfix"):
        TrafficGenerator({"postfix": tmp_path / "mail.log"})


def test_it_gets_real_attackers_banned(f2b):
    generator = TrafficGenerator.for_sandbox(f2b, rng=random.Random(7), concurrent=2)
    assert set(generator.log_paths) == {"sshd", "nginx-http-auth"}
    written = Counter()
    for _ in range(12):
        failure = generator.step()
        written[(failure.jail, failure.ip)] += 1
    assert max(written.values()) >= 3  # at least one attacker reached maxretry
    client = Fail2banClient(str(f2b.socket))

    def banned():
        return {(jail, ip) for jail in generator.log_paths
                for ip in client.jail_status(jail).banned_ips}

    bans = wait_for(banned)
    assert bans
    assert bans <= set(written)
    assert all(ipaddress.ip_address(ip).is_global for _, ip in bans)
