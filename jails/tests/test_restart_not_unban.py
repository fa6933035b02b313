"""A fail2ban restart never looks like 5,000 unbans (issue #25).

Stopping fail2ban runs the unban action for every banned address, and a
start restores them from its database: a UI that learned bans from actions
would record a mass unban that never happened. BanGUI's archive copies
fail2ban's ``bans`` rows and reads live state from ``bips``; this proves,
against a real fail2ban (marker ``fail2ban``: the matrix runs it on every
release), that after ``restart`` and after ``stop`` then ``start`` every
archived row is still "banned", no unban is recorded and no row is added.

Its own sandbox (one jail, a day's bantime, ``action = dummy``), not the
shared one: 5,000 bans cost the shared sandbox's next test a long unban.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from pathlib import Path

import pytest
from django.utils import timezone

from blocklists.importer import BAN_BATCH
from conftest import wait_for
from jails.archive import sync as archive
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox, SandboxJail
from jails.live import state as live
from jails.models import BanEvent

pytestmark = [pytest.mark.django_db, pytest.mark.fail2ban]

BANS = 5000
JAIL = "sshd"
# fail2ban runs one (dummy) action per address on ban, stop and restore:
# ~5.5 ms each, so each step of 5,000 takes ~30 s on a loaded machine.
STEP_SECONDS = 240


@pytest.fixture
def big(tmp_path_factory, settings, fail2ban_install):
    sandbox = Sandbox(Path(tmp_path_factory.mktemp("f2b-restart")), install=fail2ban_install,
                      jails=(SandboxJail(JAIL, "sshd", "auth.log", bantime=86400),))
    sandbox.start()
    settings.FAIL2BAN_SOCKET = str(sandbox.socket)
    settings.FAIL2BAN_CONFIG_DIR = str(sandbox.confdir)
    settings.FAIL2BAN_CLIENT = sandbox.install.client
    settings.FAIL2BAN_TIMEOUT = STEP_SECONDS
    yield sandbox
    sandbox.stop()


def _addresses() -> list[str]:
    hosts = ipaddress.ip_network("198.18.0.0/15").hosts()  # benchmarking range
    return [str(ip) for ip in itertools.islice(hosts, BANS)]


def _live_bans(ips: list[str]) -> int:
    state = live.read(ips, jails=[JAIL])
    return len(state.bans) if state.known else 0


def _synced_rows(sandbox: Sandbox) -> int:
    archive.sync(str(sandbox.dbfile))
    return BanEvent.objects.filter(jail=JAIL).count()


def _row_states(ips: list[str]) -> dict[str, int]:
    state = live.read(ips, jails=[JAIL])
    now = timezone.now()
    counts: dict[str, int] = {}
    for e in BanEvent.objects.filter(jail=JAIL).only(
            "jail", "ip", "banned_at", "bantime", "unbanned_at", "unbanned_by"):
        cell = state.row_state(e.jail, e.ip, e.banned_at, e.bantime, e.unbanned_at,
                               e.unbanned_by, now)
        counts[cell["state"]] = counts.get(cell["state"], 0) + 1
    return counts


def _restart(sandbox: Sandbox, how: str) -> float:
    started = time.monotonic()
    if how == "restart":
        result = sandbox._client("restart", timeout=STEP_SECONDS)
        assert result.returncode == 0, result.stderr or result.stdout
        sandbox.wait_until_ready(STEP_SECONDS)
    else:
        sandbox.stop()
        sandbox.start(timeout=STEP_SECONDS)
    return time.monotonic() - started


@pytest.mark.parametrize("how", ["restart", "stop-start"])
def test_a_restart_with_5000_bans_records_no_unban(big, how, capsys):
    ips = _addresses()
    client = Fail2banClient(str(big.socket), timeout=STEP_SECONDS)
    started = time.monotonic()
    newly = client.ban(JAIL, ips, batch=BAN_BATCH)
    assert newly == BANS
    banned_in = time.monotonic() - started
    # fail2ban's observer writes the rows a moment after banip answered.
    assert wait_for(lambda: _synced_rows(big) == BANS, timeout=STEP_SECONDS, interval=1)
    assert _row_states(ips) == {"banned": BANS}
    before = {(e.ip, e.banned_at) for e in BanEvent.objects.all()}

    started = time.monotonic()
    took = _restart(big, how)
    # fail2ban keeps its bips rows over the restart (live state said "banned"
    # throughout) and restores the bans from them in the background.
    assert _live_bans(ips) == BANS
    assert wait_for(lambda: client.jail_status(JAIL).currently_banned == BANS,
                    timeout=STEP_SECONDS, interval=1)
    restored = time.monotonic() - started
    assert _synced_rows(big) == BANS  # a restored ban is not a new row

    assert _row_states(ips) == {"banned": BANS}
    assert not BanEvent.objects.filter(unbanned_at__isnull=False).exists()
    assert {(e.ip, e.banned_at) for e in BanEvent.objects.all()} == before
    with capsys.disabled():
        print(f"\nfail2ban {big.version()} {how}: 5,000 bans in {banned_in:.1f} s, "
              f"{how} in {took:.1f} s, all restored {restored:.1f} s after it began")
