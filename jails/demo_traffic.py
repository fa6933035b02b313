"""Made-up attack traffic for the demo: failed logins from real public networks.

A few attackers are "active" at once; each sends a handful of failed logins to
one jail's log file and then goes away. Their lines interleave like real log
traffic. Most send at least ``maxretry`` (3) failures and get banned; some stop
short and only show up as failures. Some addresses come back later, to the same
jail or the other one, so ban counts and per-IP histories have something to show.

The addresses come from real, publicly routed prefixes of ISPs and hosting
companies in many countries (not the documentation ranges), so the geo features
resolve them to countries. Nothing here touches a network: it only appends lines
to the sandbox's log files.
"""

from __future__ import annotations

import ipaddress
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jails.fail2ban.testing import FAILURE_LINES, Sandbox


@dataclass(frozen=True)
class Origin:
    """A publicly routed prefix and who announces it (for the reader)."""

    country: str
    network: str
    owner: str
    weight: int = 1


# Weighted roughly like the sources seen in real sshd logs: lots of China,
# the US and Russia, a long tail elsewhere.
ORIGINS: tuple[Origin, ...] = (
    Origin("CN", "218.92.0.0/16", "China Telecom Jiangsu", 5),
    Origin("CN", "61.177.172.0/24", "China Telecom Jiangsu", 3),
    Origin("CN", "222.186.0.0/16", "China Telecom Jiangsu", 3),
    Origin("CN", "121.40.0.0/14", "Alibaba Cloud Hangzhou", 2),
    Origin("CN", "106.52.0.0/14", "Tencent Cloud", 2),
    Origin("CN", "240e::/20", "China Telecom (IPv6)", 1),
    Origin("US", "73.0.0.0/8", "Comcast", 2),
    Origin("US", "23.20.0.0/14", "Amazon AWS us-east-1", 3),
    Origin("RU", "87.250.224.0/19", "Yandex", 2),
    Origin("RU", "178.154.128.0/17", "Yandex Cloud", 2),
    Origin("BR", "200.147.0.0/16", "UOL", 2),
    Origin("BR", "143.106.0.0/16", "Unicamp", 1),
    Origin("IN", "49.36.0.0/14", "Reliance Jio", 2),
    Origin("IN", "117.192.0.0/10", "BSNL", 2),
    Origin("DE", "185.220.100.0/22", "Zwiebelfreunde (Tor exits)", 2),
    Origin("DE", "91.0.0.0/10", "Deutsche Telekom", 1),
    Origin("DE", "88.198.0.0/16", "Hetzner", 1),
    Origin("DE", "2a01:4f8::/32", "Hetzner (IPv6)", 1),
    Origin("VN", "113.160.0.0/11", "VNPT", 2),
    Origin("VN", "116.96.0.0/12", "Viettel", 2),
    Origin("KR", "121.128.0.0/10", "KT", 2),
    Origin("KR", "175.192.0.0/10", "KT", 1),
    Origin("NL", "89.248.160.0/21", "Recyber", 2),
    Origin("NL", "95.211.0.0/16", "LeaseWeb", 1),
    Origin("FR", "163.172.0.0/16", "Scaleway", 2),
    Origin("FR", "90.0.0.0/9", "Orange", 1),
    Origin("ID", "36.64.0.0/11", "Telkom Indonesia", 1),
    Origin("TR", "78.160.0.0/11", "Turk Telekom", 1),
    Origin("JP", "126.0.0.0/8", "SoftBank", 1),
    Origin("GB", "86.128.0.0/10", "BT", 1),
    Origin("ES", "83.32.0.0/11", "Telefonica de Espana", 1),
    Origin("PK", "39.32.0.0/11", "PTCL", 1),
)

USERS = {
    "sshd": ("root", "admin", "ubuntu", "oracle", "postgres", "test", "git", "pi", "user",
             "deploy", "ftpuser", "support"),
    "nginx-http-auth": ("admin", "administrator", "user", "test", "manager", "guest"),
}

# How many failures one attacker sends before moving on, and how often.
# With maxretry = 3, about 70 % of attackers get banned.
BURSTS = (1, 2, 3, 4, 5, 6, 8)
BURST_WEIGHTS = (15, 15, 25, 20, 10, 8, 7)


@dataclass
class Attacker:
    ip: str
    jail: str
    user: str
    remaining: int


@dataclass(frozen=True)
class Failure:
    """One failed-login line written to a jail's log."""

    jail: str
    ip: str
    line: str


def random_address(origin: Origin, rng: random.Random) -> str:
    """A host address inside ``origin`` (never its first or last address)."""
    network = ipaddress.ip_network(origin.network)
    offset = rng.randrange(1, network.num_addresses - 1)
    return str(network[offset])


class TrafficGenerator:
    """Appends failed-login lines to jail log files, one per :meth:`step`."""

    def __init__(
        self,
        log_paths: Mapping[str, Path],
        *,
        rng: random.Random | None = None,
        concurrent: int = 4,
        repeat_chance: float = 0.2,
        origins: tuple[Origin, ...] = ORIGINS,
    ):
        unknown = set(log_paths) - set(FAILURE_LINES)
        if unknown:
            raise ValueError(f"no failure line format for jail(s): {', '.join(sorted(unknown))}")
        if not log_paths:
            raise ValueError("at least one jail log is needed")
        self.log_paths = dict(log_paths)
        self.rng = rng or random.Random()  # noqa: S311 (made-up traffic, not secrets)
        self.concurrent = max(1, concurrent)
        self.repeat_chance = repeat_chance
        self.origins = origins
        self._weights = [o.weight for o in origins]
        self.active: list[Attacker] = []
        # Addresses seen before; some come back later.
        self.seen: deque[str] = deque(maxlen=500)
        self.lines_written = 0

    @classmethod
    def for_sandbox(cls, sandbox: Sandbox, **kwargs) -> TrafficGenerator:
        paths = {j.name: sandbox.log_path(j.name) for j in sandbox.jails
                 if j.enabled and j.name in FAILURE_LINES}
        return cls(paths, **kwargs)

    def _new_attacker(self) -> Attacker:
        busy = {a.ip for a in self.active}
        jail = self.rng.choice(sorted(self.log_paths))
        returning = [ip for ip in self.seen if ip not in busy]
        if returning and self.rng.random() < self.repeat_chance:
            ip = self.rng.choice(returning)
        else:
            origin = self.rng.choices(self.origins, weights=self._weights)[0]
            ip = random_address(origin, self.rng)
        burst = self.rng.choices(BURSTS, weights=BURST_WEIGHTS)[0]
        return Attacker(ip=ip, jail=jail, user=self.rng.choice(USERS[jail]), remaining=burst)

    def step(self) -> Failure:
        """Write one failed-login line for one of the active attackers."""
        while len(self.active) < self.concurrent:
            self.active.append(self._new_attacker())
        attacker = self.rng.choice(self.active)
        line = FAILURE_LINES[attacker.jail](attacker.ip, user=attacker.user)
        with self.log_paths[attacker.jail].open("a") as fh:
            fh.write(line)
        self.lines_written += 1
        attacker.remaining -= 1
        if attacker.remaining <= 0:
            self.active.remove(attacker)
            if attacker.ip not in self.seen:
                self.seen.append(attacker.ip)
        return Failure(attacker.jail, attacker.ip, line)

    def run(
        self,
        per_minute: float,
        should_stop: Callable[[float], bool],
        on_failure: Callable[[Failure], None] | None = None,
    ) -> int:
        """Write about ``per_minute`` lines a minute until ``should_stop``
        says so. ``should_stop(seconds)`` waits up to that long and returns
        True to stop (``threading.Event.wait`` fits). Returns lines written."""
        if per_minute <= 0:
            raise ValueError("the rate must be above zero")
        mean = 60.0 / per_minute
        written = 0
        while not should_stop(0):
            failure = self.step()
            written += 1
            if on_failure:
                on_failure(failure)
            # Jitter, so the log does not tick like a metronome.
            if should_stop(self.rng.uniform(0.5 * mean, 1.5 * mean)):
                break
        return written

