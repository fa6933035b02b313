"""Config history of another node (docs/config.md, "Config history"): node
b's worker runs the config transaction and records b's versions in the
shared database; the web reads b's history from there and restores a
version through the dispatch (b reads it and runs the same transaction).
Real processes: two sandboxed fail2ban-servers and a qcluster for each."""

from __future__ import annotations

from jails.fail2ban import Fail2banClient
from jails.tests.test_fleet_commands import SIGNED_IN, project, two_nodes  # noqa: F401

REL = "jail.d/bangui-hist.local"


def test_a_nodes_versions_are_recorded_by_it_and_restored_through_the_dispatch(
        two_nodes):  # noqa: F811 (the imported fixture)
    proj, boxes, _ = two_nodes
    done = proj.run("shell", "-c", (
        SIGNED_IN +
        "import re\n"
        "from jails.models import ConfigVersion\n"
        "from accounts.models import AuditEntry\n"
        "SAVE = '/nodes/b/config/file/save/'\n"
        f"d = {{'path': '{REL}', 'version': 'absent', 'text': '[sshd]\\nmaxretry = 4\\n'}}\n"
        "html = settled(c.post(SAVE, d, HTTP_HX_REQUEST='true'), d)\n"
        "version = re.search(r'name=\"version\" value=\"([0-9a-f]+)\"', html)[1]\n"
        f"d = {{'path': '{REL}', 'version': version, 'text': '[sshd]\\nmaxretry = 8\\n'}}\n"
        "settled(c.post(SAVE, d, HTTP_HX_REQUEST='true'), d)\n"
        f"rows = list(ConfigVersion.objects.filter(path='{REL}').order_by('id'))\n"
        "print('ROWS', [(r.node, r.kind, r.verdict, r.actor) for r in rows])\n"
        f"html = c.get('/nodes/b/config/history/?path={REL}').content.decode()\n"
        "print('PAGE', 'on b' in html, '+maxretry = 8' in html, 'Restore' in html)\n"
        f"print('HERE', 'No versions' in c.get('/config/history/?path={REL}')"
        ".content.decode())\n"
        "expected = re.search(r'name=\"expected\" value=\"([0-9a-f]+)\"', html)[1]\n"
        f"d = {{'path': '{REL}', 'version': str(rows[0].pk), 'expected': expected}}\n"
        "html = settled(c.post('/nodes/b/config/history/restore/', d,"
        " HTTP_HX_REQUEST='true'), d)\n"
        "print('RESTORE', LAST.status_code, f'Restored version #{rows[0].pk}' in html)\n"
        f"last = ConfigVersion.objects.filter(path='{REL}').order_by('id').last()\n"
        "print('LAST', last.node, last.kind, last.verdict)\n"
        "print('AUDIT', list(AuditEntry.objects.filter(action='config.restore')"
        ".values_list('node', 'result')))\n"))
    lines = [line for line in done.stdout.splitlines() if line.split()[:1] in
             (["ROWS"], ["PAGE"], ["HERE"], ["RESTORE"], ["LAST"], ["AUDIT"])]
    assert lines == [
        "ROWS [('b', 'created', 'passed', 'root'), ('b', 'saved', 'passed', 'root')]",
        "PAGE True True True", "HERE True", "RESTORE 200 True", "LAST b restored passed",
        "AUDIT [('b', 'ok')]"], done.stdout + done.stderr
    written = boxes["b"].confdir / "jail.d" / "bangui-hist.local"
    assert written.read_bytes() == b"[sshd]\nmaxretry = 4\n"
    assert Fail2banClient(str(boxes["b"].socket)).jail_settings("sshd").maxretry == 4
    assert not (boxes["a"].confdir / "jail.d" / "bangui-hist.local").exists()
