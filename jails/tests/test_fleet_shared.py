"""Shared bans with real processes: nodes a and b labelled "web", node c
not; a rule shares sshd bans among "web" nodes. A ban fail2ban makes on a
reaches b's shared-bans jail, not c's, and never comes back to a."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from bangui.tests.conftest import project, wait_for_text  # noqa: F401 (the fixture)
from conftest import wait_for
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox, SandboxJail

JAILS = (SandboxJail("sshd", "sshd", "auth.log"),
         SandboxJail("shared-bans", "sshd", "shared.log", actions=False))


def _banned(box: Sandbox, jail: str) -> set[str]:
    return set(Fail2banClient(str(box.socket)).jail_status(jail).banned_ips)


@pytest.fixture
def three_nodes(project):  # noqa: F811 (the imported fixture)
    boxes = {}
    try:
        for node in ("a", "b", "c"):
            root = Path(tempfile.mkdtemp(prefix=f"bgs{node}-"))  # short: socket paths
            box = Sandbox(root, jails=JAILS)
            box.start()
            boxes[node] = box
            project.start("qcluster", log=f"{node}.log",
                          env={"BANGUI_NODE": node, "BANGUI_FAIL2BAN_SOCKET": str(box.socket),
                               "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir)})
        for node in boxes:
            wait_for_text(project.data_dir / f"{node}.log", "running.")
        yield project, boxes
    finally:
        for box in boxes.values():
            box.stop()
            shutil.rmtree(box.root, ignore_errors=True)


def _archive(proj, ip: str) -> list:
    done = proj.run("shell", "-c", (
        "import json\n"
        "from jails.models import BanEvent\n"
        f"rows = BanEvent.objects.filter(ip='{ip}').order_by('node')\n"
        "print(json.dumps([[r.node, r.jail, r.origin, r.shared_from] for r in rows]))"))
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None


def test_a_rule_shares_a_ban_among_labelled_nodes_and_never_back(three_nodes):
    proj, boxes = three_nodes
    setup = proj.run("shell", "-c", (
        "from nodes.models import Node\n"
        "from jails.fleet.models import SharedBanRule\n"
        "Node.objects.filter(name__in=['a', 'b']).update(labels=['web'])\n"
        "SharedBanRule.objects.create(name='web ssh', jail='sshd', source_label='web',"
        " target_label='web')\n"
        # A rule that would loop if shared bans were shared again.
        "SharedBanRule.objects.create(name='loop', jail='shared-bans', source_label='web',"
        " target_label='web')\n"))
    assert setup.returncode == 0, setup.stderr

    boxes["a"].write_failures("sshd", "198.51.100.88", 3)
    assert wait_for(lambda: _banned(boxes["b"], "shared-bans") == {"198.51.100.88"},
                    timeout=40, interval=0.5)
    assert wait_for(lambda: _archive(proj, "198.51.100.88") == [
        ["a", "sshd", "detected", None], ["b", "shared-bans", "shared", "a"]],
        timeout=20, interval=0.5), _archive(proj, "198.51.100.88")

    # a has looked at b's shared row since (its own tick), and did not take it back.
    def a_looked_after_b():
        done = proj.run("shell", "-c", (
            "from jails.fleet.models import SharedBanState\n"
            "from jails.models import BanEvent\n"
            "b = BanEvent.objects.get(node='b', ip='198.51.100.88')\n"
            "a = SharedBanState.objects.get(pk='a')\n"
            "print(a.checked_through > b.created_at)"))
        return done.stdout.strip().splitlines()[-1:] == ["True"]

    assert wait_for(a_looked_after_b, timeout=30, interval=0.5)
    assert _banned(boxes["a"], "shared-bans") == set()
    assert _banned(boxes["c"], "shared-bans") == set()  # not labelled web
    assert _banned(boxes["c"], "sshd") == set()
    assert [row[0] for row in _archive(proj, "198.51.100.88")] == ["a", "b"]
