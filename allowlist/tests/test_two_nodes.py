"""The allow-list on a fleet, with real processes: two sandboxed
fail2ban-servers, a ``qcluster`` for each (nodes a and b, labelled web) on
one database (jails/tests/test_fleet_commands.py's ``two_nodes``), and
``manage.py allowlist``. An entry for a /24 on label web lands in both
nodes' jails at once, comes back after ``fail2ban-client restart`` (each
node's worker re-applies it on its tick), leaves at its expiry, and
fail2ban then bans an address in it from log lines again."""

from __future__ import annotations

from bangui.tests.conftest import project  # noqa: F401 (the fixture)
from conftest import wait_for
from jails.fail2ban import Fail2banClient
from jails.tests.test_fleet_commands import two_nodes  # noqa: F401 (the fixture)

NET = "198.51.100.0/24"


def _ignored(box) -> list[str]:
    return Fail2banClient(str(box.socket)).ignore_list("sshd")


def test_a_labelled_entry_reaches_both_nodes_survives_restart_and_expires(two_nodes):  # noqa: F811
    proj, boxes, _ = two_nodes
    proj.run("shell", "-c", "from nodes.models import Node\n"
             "Node.objects.filter(name__in=['a', 'b']).update(labels=['web'])")
    done = proj.run("allowlist", "add", NET, "--label", "web", "--note", "office",
                    "--expires", "1h")
    assert done.returncode == 0, done.stderr
    assert "  a: added in sshd\n" in done.stdout and "  b: added in sshd\n" in done.stdout, \
        done.stdout
    for box in boxes.values():
        assert NET in _ignored(box) and "127.0.0.0/8" in _ignored(box)

    # fail2ban restarts from its config: b's worker puts the entry back.
    boxes["b"].fail2ban_client("restart")
    boxes["b"].wait_until_ready()
    wait_for(lambda: NET in _ignored(boxes["b"]), timeout=30)

    # At its expiry each node's next tick takes it out; the config's stays.
    proj.run("shell", "-c", "from django.utils import timezone\n"
             "from allowlist.models import AllowEntry\n"
             "AllowEntry.objects.update(expires_at=timezone.now())")
    for box in boxes.values():
        wait_for(lambda box=box: NET not in _ignored(box), timeout=30)
        assert "127.0.0.0/8" in _ignored(box)

    # No longer ignored: fail2ban bans an address of it from log lines.
    boxes["a"].write_failures("sshd", "198.51.100.7", count=3)
    wait_for(lambda: "198.51.100.7" in Fail2banClient(str(boxes["a"].socket))
             .jail_status("sshd").banned_ips, timeout=30)
    listed = proj.run("allowlist", "list")
    assert "198.51.100.0/24\tevery jail on nodes labelled web\texpired" in listed.stdout
