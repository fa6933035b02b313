"""A long blocklist import beside a busy web tier and a node's worker, on
real processes: nothing locked, nothing lost, exact counts.

Outside test runs on SQLite saw "database is locked" here: an import of
40,000 new addresses failed inside its archive copy while the worker's
tick, its scheduled sync and the web tier wrote beside it. The import runs
in its own process (``manage.py import_blocklist``: the worker's code
path), the node's worker ticks every second (facts, archive sync, live-ban
publish), two writer processes write audit rows and sessions as a busy web
tier does, and the web's in-process "unban all" syncs first."""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bangui.tests.conftest import MANAGE, ROOT, wait_for_text
from jails.fail2ban.testing import Sandbox, SandboxJail

ADDRESSES = 20_000

WRITER = """
import time
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import AuditEntry
end = time.monotonic() + {seconds}
n = 0
while time.monotonic() < end:
    AuditEntry.objects.create(actor_name="web", action="ban", target="192.0.2.1")
    s = SessionStore(); s["n"] = n; s.save()
    n += 1
    time.sleep(0.01)
print("wrote", n)
"""


@pytest.mark.parametrize("project", ["sqlite"], indirect=True)
def test_a_long_import_beside_a_busy_web_tier_and_worker(project, http_server):
    rng = random.Random(24)
    ips = sorted({f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                  f"{rng.randint(1, 254)}" for _ in range(ADDRESSES * 2)})[:ADDRESSES]
    http_server.add("/big.txt", body=("\n".join(ips) + "\n").encode())
    root = Path(tempfile.mkdtemp(prefix="bgbusy-"))  # short: the socket path
    box = Sandbox(root, jails=(SandboxJail("bl", "sshd", "bl.log", actions=False),))
    box.start()
    writers = []
    try:
        env = {"BANGUI_NODE": "a", "BANGUI_FAIL2BAN_SOCKET": str(box.socket),
               "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir),
               "BANGUI_BLOCKLIST_ALLOW_PRIVATE": "1", "BANGUI_NODE_TICK_SECONDS": "1"}
        project.env.update(env)
        _, log = project.start("qcluster", log="worker.log")
        wait_for_text(log, "running.")
        made = project.run("shell", "-c",
                           "from blocklists.models import BlocklistSource\n"
                           f"BlocklistSource.objects.create(name='big', jail='bl', "
                           f"url='{http_server.base}/big.txt')")
        assert made.returncode == 0, made.stderr
        writers = [subprocess.Popen([*MANAGE, "shell", "-c", WRITER.format(seconds=25)],
                                    cwd=ROOT, env=project.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        imported = project.run("import_blocklist", "big", timeout=300)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        outs = [w.communicate(timeout=120) for w in writers]
        for w, (out, err) in zip(writers, outs, strict=True):
            assert w.returncode == 0 and "wrote" in out, err[-3000:]
        # The web's "unban all" (this host's node, in process) syncs first.
        lifted = project.run("f2b", "unbanall", "bl", timeout=300)
        assert lifted.returncode == 0, lifted.stdout + lifted.stderr
        synced = project.run("sync_bans", timeout=300)
        assert synced.returncode == 0, synced.stderr
        counts = project.run("shell", "-c", (
            "from blocklists.models import ImportRun\n"
            "from jails.models import BanEvent\n"
            "r = ImportRun.objects.get()\n"
            "print(r.status, r.newly_banned, repr(r.error))\n"
            "print(BanEvent.objects.filter(jail='bl').count(),"
            " BanEvent.objects.filter(jail='bl', origin='blocklist').count(),"
            " BanEvent.objects.filter(jail='bl', unbanned_at__isnull=False).count())"))
        assert counts.returncode == 0, counts.stderr
        run_line, rows_line = counts.stdout.strip().splitlines()[-2:]
        assert run_line == f"ok {ADDRESSES} ''", run_line
        assert rows_line == f"{ADDRESSES} {ADDRESSES} {ADDRESSES}", rows_line
        text = log.read_text()
        everything = text + imported.stderr + lifted.stderr + "".join(e for _, e in outs)
        assert "database is locked" not in everything
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
        box.stop()
        shutil.rmtree(root, ignore_errors=True)
