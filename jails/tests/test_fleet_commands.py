"""Commands routed to a node's task cluster (jails/fleet/commands.py), with
real processes: two sandboxed fail2ban-servers, a ``qcluster`` for each
(``BANGUI_NODE`` a and b) on one database, and ``manage.py f2b --node``."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from bangui.tests.conftest import project, wait_for_text  # noqa: F401 (the fixture)
from conftest import wait_for
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox, SandboxJail, sshd_failure_line

# The start of a ``manage.py shell -c`` script that drives the web tier's
# views as a signed-in superuser (``c``), on the project's database.
SIGNED_IN = (
    "from django.test import Client\n"
    "from django.contrib.auth.models import User\n"
    "from accounts.models import SetupCompletion\n"
    "SetupCompletion.objects.create(method='test')\n"
    "u = User.objects.create_superuser('root', password='x' * 20)\n"
    "c = Client(HTTP_HOST='localhost'); c.force_login(u)\n"
    # A command for another node answers at once with a fragment that polls
    # for the answer (every 1s in a browser): a command's message polls
    # /commands/<group>/, a page's answer (a config file, a save, a regex
    # test) its own view again with the ticket (and, for a POST, the same
    # fields). This follows either to the end; LAST is the last response.
    "import html as _html, re as _re, time as _time\n"
    "LAST = None\n"
    "def settled(r, data=None):\n"
    "    global LAST\n"
    "    LAST = r; html = r.content.decode(); give_up = _time.monotonic() + 20\n"
    "    while True:\n"
    "        m = _re.search(r'hx-get=\"(/commands/[0-9a-f]+/)\"', html)\n"
    "        w = _re.search(r'data-testid=\"waiting\" hx-(get|post)=\"([^\"]+)\"[^>]*?"
    "\\{\"ticket\": \"([0-9a-f]+)\"\\}', html)\n"
    "        if not m and not w: return html\n"
    "        assert _time.monotonic() < give_up, html\n"
    "        _time.sleep(0.1)\n"
    "        if m: LAST = c.get(m.group(1), HTTP_HX_REQUEST='true')\n"
    "        elif w.group(1) == 'get':\n"
    "            url = _html.unescape(w.group(2))\n"
    "            LAST = c.get(url + ('&' if '?' in url else '?') + 'ticket=' + w.group(3),"
    " HTTP_HX_REQUEST='true')\n"
    "        else: LAST = c.post(_html.unescape(w.group(2)), {**(data or {}),"
    " 'ticket': w.group(3)}, HTTP_HX_REQUEST='true')\n"
    "        html = LAST.content.decode()\n"
)


def _banned(box: Sandbox) -> set[str]:
    return set(Fail2banClient(str(box.socket)).jail_status("sshd").banned_ips)


@pytest.fixture
def two_nodes(project):  # noqa: F811 (the imported fixture)
    boxes, procs = {}, {}
    try:
        for node in ("a", "b"):
            root = Path(tempfile.mkdtemp(prefix=f"bgn{node}-"))  # short: socket paths
            box = Sandbox(root, jails=(SandboxJail("sshd", "sshd", "auth.log"),))
            box.start()
            boxes[node] = box
            procs[node], _ = project.start(
                "qcluster", log=f"{node}.log",
                env={"BANGUI_NODE": node, "BANGUI_FAIL2BAN_SOCKET": str(box.socket),
                     "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir),
                     "BANGUI_BLOCKLIST_ALLOW_PRIVATE": "1"})  # the test's list server
        for node in procs:
            wait_for_text(project.data_dir / f"{node}.log", "running.")
        yield project, boxes, procs
    finally:
        for box in boxes.values():
            box.stop()
            shutil.rmtree(box.root, ignore_errors=True)


def test_a_command_runs_on_its_node_only_and_everywhere_on_all(two_nodes):
    proj, boxes, _ = two_nodes
    done = proj.run("f2b", "--node", "b", "ban", "sshd", "192.0.2.7")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "b: Banned 192.0.2.7 in sshd."
    assert _banned(boxes["b"]) == {"192.0.2.7"}
    assert _banned(boxes["a"]) == set()

    done = proj.run("f2b", "--all-nodes", "ban", "sshd", "192.0.2.8")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["a: Banned 192.0.2.8 in sshd.",
                                                "b: Banned 192.0.2.8 in sshd."]
    assert _banned(boxes["a"]) == {"192.0.2.8"}
    assert _banned(boxes["b"]) == {"192.0.2.7", "192.0.2.8"}  # (before the label part)

    done = proj.run("f2b", "--node", "a", "--node", "b", "status", "sshd")
    assert "a: sshd: 1 banned now" in done.stdout and "b: sshd: 2 banned now" in done.stdout

    done = proj.run("f2b", "--node", "b", "unban", "sshd", "192.0.2.7")
    assert done.returncode == 0 and done.stdout.strip() == "b: Unbanned 192.0.2.7 from sshd."
    assert _banned(boxes["b"]) == {"192.0.2.8"}

    # Every node carrying a label (set in Django admin -> Nodes).
    proj.run("shell", "-c", "from nodes.models import Node\n"
             "Node.objects.filter(name='a').update(labels=['web'])")
    done = proj.run("f2b", "--label", "web", "ban", "sshd", "192.0.2.70")
    assert done.returncode == 0 and done.stdout.strip() == "a: Banned 192.0.2.70 in sshd."
    assert "192.0.2.70" in _banned(boxes["a"]) and "192.0.2.70" not in _banned(boxes["b"])
    done = proj.run("f2b", "--label", "db", "ban", "sshd", "192.0.2.71")
    assert done.returncode == 1 and "no registered node matches" in done.stderr

    # Bad input is refused before anything is queued.
    done = proj.run("f2b", "--all-nodes", "ban", "sshd", "192.0.2.999")
    assert done.returncode == 2 and "192.0.2.999" in done.stderr


def test_a_down_node_fails_at_once_and_a_stale_command_is_dropped(two_nodes):
    proj, boxes, procs = two_nodes
    procs["b"].send_signal(signal.SIGKILL)
    procs["b"].wait(timeout=10)

    def b_is_down():
        listed = json.loads(proj.run("nodes", "--json").stdout)
        return not next(n for n in listed if n["name"] == "b")["up"]

    assert wait_for(b_is_down, timeout=15)  # within the (3 s) lease of the tests
    done = proj.run("f2b", "--node", "b", "ban", "sshd", "192.0.2.9")
    assert done.returncode == 1
    assert "b: node b is down (no heartbeat since" in done.stderr
    assert "not done on 1 of 1 nodes: b" in done.stderr

    # Past its deadline when node a takes it: dropped, not run.
    done = proj.run("shell", "-c", (
        "from jails.fleet.dispatch import send\n"
        "(r,) = send(['a'], 'ban', {'jail': 'sshd', 'ips': ['192.0.2.10']}, 'test', "
        "deadline_seconds=-1)\n"
        "print(r.ok, r.message)"))
    assert done.stdout.strip().splitlines()[-1].startswith("False dropped: it reached node a")
    assert _banned(boxes["a"]) == set()


    # While b's cluster is gone its fail2ban keeps banning; restarted, b
    # catches up from its cursor: the bans arrive once, nothing twice.
    boxes["b"].write_failures("sshd", "198.51.100.90", 3)
    boxes["b"].write_failures("sshd", "198.51.100.91", 3)
    assert wait_for(lambda: {"198.51.100.90", "198.51.100.91"} <= _banned(boxes["b"]))
    proj.start("qcluster", log="b2.log",
               env={"BANGUI_NODE": "b", "BANGUI_FAIL2BAN_SOCKET": str(boxes["b"].socket),
                    "BANGUI_FAIL2BAN_CONFIG_DIR": str(boxes["b"].confdir)})
    wait_for_text(proj.data_dir / "b2.log", "running.", timeout=30)

    def b_rows():
        done = proj.run("shell", "-c", (
            "from jails.models import BanEvent\n"
            "print(sorted(BanEvent.objects.filter(node='b').values_list('ip', flat=True)))"))
        return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else ""

    both = "['198.51.100.90', '198.51.100.91']"
    assert wait_for(lambda: b_rows() == both, timeout=30, interval=0.5)
    again = proj.run("sync_bans", env={"BANGUI_NODE": "b",
                                      "BANGUI_FAIL2BAN_SOCKET": str(boxes["b"].socket)})
    assert again.returncode == 0, again.stderr
    assert b_rows() == both  # another sync from the cursor adds nothing


def test_a_ban_fail2ban_makes_on_a_node_reaches_the_archive_with_its_node(two_nodes):
    """No command, no schedule: node b's own tick syncs its fail2ban's new
    ban into the shared archive within seconds (BANGUI_NODE_TICK_SECONDS)."""
    proj, boxes, _ = two_nodes
    # Only the tick can bring it: b's scheduled sync is gone.
    gone = proj.run("shell", "-c", "from django_q.models import Schedule\n"
                    "print(Schedule.objects.filter(name='bangui:archive-sync@b').delete()[0])")
    assert gone.stdout.strip().splitlines()[-1] == "1", gone.stderr
    boxes["b"].write_failures("sshd", "198.51.100.77", 3)
    assert wait_for(lambda: "198.51.100.77" in _banned(boxes["b"]), timeout=15)

    def archived():
        done = proj.run("shell", "-c", (
            "from jails.models import BanEvent\n"
            "print(sorted(BanEvent.objects.filter(ip='198.51.100.77')"
            ".values_list('node', 'origin')))"))
        return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else ""

    assert wait_for(lambda: archived() == "[('b', 'detected')]", timeout=30, interval=0.5)


def test_the_dashboard_bans_on_a_chosen_node_and_everywhere(two_nodes, settings):
    """Through the web tier's views, as an operator does it: ban on node b
    only, then on every node; unban on b from b's row. The web process here
    is the test's, on the project's database."""
    proj, boxes, _ = two_nodes
    done = proj.run("shell", "-c", (
        SIGNED_IN +
        "r = c.post('/bans/ban/', {'ip': '192.0.2.60', 'jail': 'sshd', 'node': 'b'},"
        " HTTP_HX_REQUEST='true')\n"
        "print('ONE', r.status_code, 'Waiting for b to answer' in r.content.decode(),"
        " 'On b: Banned 192.0.2.60 in sshd.' in settled(r))\n"
        "r = c.post('/bans/ban/', {'ip': '192.0.2.61', 'jail': 'sshd', 'node': '*'},"
        " HTTP_HX_REQUEST='true')\n"
        "print('ALL', r.status_code, 'On a, b: Banned 192.0.2.61 in sshd.' in settled(r))\n"
        "import time\n"
        "from jails.fleet.models import LiveBan\n"
        "deadline = time.monotonic() + 20\n"  # b's worker publishes its live bans
        "while not LiveBan.objects.filter(node='b', ip='192.0.2.60').exists():\n"
        "    assert time.monotonic() < deadline; time.sleep(0.2)\n"
        "html = c.get('/').content.decode()\n"
        "row = html[html.index('data-ip=\"192.0.2.60\"'):].split('</tr>')[0]\n"
        "print('ROW', 'Unban on b' in row and 'banned</span>' in row)\n"
        "r = c.post('/bans/unban/', {'ip': '192.0.2.60', 'jail': 'sshd', 'node': 'b'},"
        " HTTP_HX_REQUEST='true')\n"
        "print('UNBAN', 'On b: Unbanned 192.0.2.60 from sshd.' in settled(r))\n"
        "r = c.post('/ip/192.0.2.62/ban/', {'jail': 'sshd', 'node': 'a'},"
        " HTTP_HX_REQUEST='true')\n"
        "print('IP', 'On a: Banned 192.0.2.62 in sshd.' in settled(r))\n"
        "from accounts.models import AuditEntry\n"
        "print('AUDIT', sorted(AuditEntry.objects.filter(target='sshd 192.0.2.61')"
        ".values_list('node', flat=True)))\n"))
    lines = [line for line in done.stdout.splitlines() if line.split()[:1] in
             (["ONE"], ["ALL"], ["ROW"], ["UNBAN"], ["IP"], ["AUDIT"])]
    assert lines == ["ONE 200 True True", "ALL 200 True", "ROW True", "UNBAN True", "IP True",
                     "AUDIT ['a', 'b']"], \
        done.stdout + done.stderr
    assert _banned(boxes["a"]) == {"192.0.2.61", "192.0.2.62"}
    assert _banned(boxes["b"]) == {"192.0.2.61"}


def test_the_node_page_and_its_jail_pages_control_the_node(two_nodes):
    proj, boxes, _ = two_nodes
    Fail2banClient(str(boxes["b"].socket)).ban("sshd", ["192.0.2.80"])
    b = Fail2banClient(str(boxes["b"].socket))
    done = proj.run("shell", "-c", (
        SIGNED_IN +
        "import time\n"
        "from nodes.models import Node\n"
        "from jails.fail2ban import Fail2banClient\n"
        "deadline = time.monotonic() + 20\n"  # the next published counters
        "while Node.objects.get(pk='b').jail_counts.get('sshd', {}).get('banned') != 1:\n"
        "    assert time.monotonic() < deadline; time.sleep(0.2)\n"
        "html = c.get('/nodes/b/').content.decode()\n"
        "print('PAGE', 'data-jail=\"sshd\"' in html and '<td class=\"num\">1</td>' in html)\n"
        "from jails.fleet.models import LiveBan\n"
        "while not LiveBan.objects.filter(node='b', ip='192.0.2.80').exists():\n"
        "    assert time.monotonic() < deadline; time.sleep(0.2)\n"
        "html = c.get('/nodes/b/').content.decode()\n"
        "print('LISTED', '192.0.2.80</a>' in html and '1\u20131 of 1' in html)\n"
        "r = c.post('/nodes/b/unban/', {'ip': '192.0.2.80', 'jail': 'sshd'},"
        " HTTP_HX_REQUEST='true')\n"
        "print('UNBAN', 'On b: Unbanned 192.0.2.80 from sshd.' in settled(r))\n"
        "r = c.post('/nodes/b/jails/sshd/ignore/add/', {'value': '198.51.100.0/24'},"
        " HTTP_HX_REQUEST='true')\n"
        "print('IGNORE', 'On b: sshd now ignores 198.51.100.0/24' in settled(r),"
        f" '198.51.100.0/24' in Fail2banClient({str(boxes['b'].socket)!r}).ignore_list('sshd'))\n"
        "r = c.post('/nodes/b/jails/sshd/stop/', HTTP_HX_REQUEST='true')\n"
        "print('STOP', 'On b: Stopped sshd;' in settled(r))\n"
        "r = c.post('/nodes/b/jails/sshd/ban/', {'ips': '192.0.2.999'}, HTTP_HX_REQUEST='true')\n"
        "print('BAD', 'Not done' in r.content.decode() and '192.0.2.999' in r.content.decode())\n"
        "print('MISSING', c.get('/nodes/nope/').status_code)\n"))
    lines = [line for line in done.stdout.splitlines() if line.split()[:1] in
             (["PAGE"], ["LISTED"], ["UNBAN"], ["IGNORE"], ["STOP"], ["BAD"], ["MISSING"])]
    assert lines == ["PAGE True", "LISTED True", "UNBAN True", "IGNORE True True", "STOP True",
                     "BAD True", "MISSING 404"], done.stdout + done.stderr
    assert b.jail_names() == []  # stopped on b
    assert Fail2banClient(str(boxes["a"].socket)).jail_names() == ["sshd"]  # a untouched


def test_a_blocklist_aimed_at_a_label_is_imported_by_those_nodes_only(two_nodes, http_server):
    """A source for nodes labelled "web" (b only): its schedules are b's;
    "Import now" from the web tier queues it to b's cluster, which downloads
    the list and bans it into b's fail2ban; a gets nothing."""
    proj, boxes, _ = two_nodes
    listed = ["203.0.113.91", "203.0.113.92"]
    http_server.add("/web.txt", body="\n".join(listed).encode())
    url = http_server.base + "/web.txt"
    done = proj.run("shell", "-c", (
        SIGNED_IN +
        "import time\n"
        "from nodes.models import Node\n"
        "from blocklists import schedules\n"
        "from blocklists.models import BlocklistSource, ImportRun\n"
        "Node.objects.filter(pk='b').update(labels=['web'])\n"
        f"s = BlocklistSource.objects.create(name='web list', url={url!r}, jail='sshd',"
        " target_label='web', interval_minutes=10080)\n"
        "print('DUE', [n for n in ('a', 'b') if s in schedules.due(n)])\n"
        "r = c.post(f'/blocklists/{s.pk}/import/')\n"
        "deadline = time.monotonic() + 30\n"
        "while not ImportRun.objects.filter(source=s).exclude(status='running').exists():\n"
        "    assert time.monotonic() < deadline; time.sleep(0.2)\n"
        "print('RUNS', sorted(ImportRun.objects.filter(source=s)"
        ".values_list('node', 'status', 'newly_banned')))\n"))
    lines = [line for line in done.stdout.splitlines() if line.split()[:1] in
             (["DUE"], ["RUNS"])]
    assert lines == [
        "DUE ['b']",
        "RUNS [('b', 'ok', 2)]"], done.stdout + done.stderr
    assert set(listed) <= _banned(boxes["b"])
    assert not set(listed) & _banned(boxes["a"])


def test_the_regex_tester_runs_on_a_chosen_node(two_nodes):
    """The tester's "Run on b": b's worker runs fail2ban-regex with b's
    filter.d and answers the lists the page shows."""
    proj, _, _ = two_nodes
    lines = (sshd_failure_line("192.0.2.10").replace("sshd[", "sshd[1")
             + "Nov 23 14:03:09 host cron[2]: job done\n")
    done = proj.run("shell", "-c", (
        SIGNED_IN +
        f"d = {{'lines': {lines!r}, 'filter_name': 'sshd', 'node': 'b'}}\n"
        "r = c.post('/config/regex/', d, HTTP_HX_REQUEST='true')\n"
        "print('WAITING', 'Waiting for b to answer' in r.content.decode())\n"
        "html = settled(r, d)\n"
        "print('REGEX', LAST.status_code, 'tested from pasted lines on b' in html,"
        " '192.0.2.10' in html, 'job done' in html)\n"))
    lines_out = [line for line in done.stdout.splitlines() if line.startswith(("REGEX",
                                                                              "WAITING"))]
    assert lines_out == ["WAITING True", "REGEX 200 True True True"], done.stdout + done.stderr


def test_a_nodes_config_files_are_listed_read_and_saved_by_that_node(two_nodes):
    """/nodes/b/config/: b's worker lists and reads b's files and runs the
    config transaction on b: a good .local lands in b's config dir and b's
    fail2ban, a broken one is rolled back there; a is never touched."""
    proj, boxes, _ = two_nodes
    done = proj.run("shell", "-c", (
        SIGNED_IN +
        "from accounts.models import AuditEntry\n"
        "html = settled(c.get('/nodes/b/config/'))\n"
        "print('LIST', 'jail.conf' in html and 'filter.d/sshd.conf' in html)\n"
        "html = settled(c.get('/nodes/b/config/file/?path=jail.d/bangui-fleet.local'))\n"
        "print('READ', 'New file (does not exist yet)' in html and 'on b' in html)\n"
        "SAVE = '/nodes/b/config/file/save/'\n"
        "d = {'path': 'jail.d/bangui-fleet.local', 'version': 'absent',"
        " 'text': '[sshd]\\nmaxretry = 7\\n'}\n"
        "html = settled(c.post(SAVE, d, HTTP_HX_REQUEST='true'), d)\n"
        "print('SAVE', LAST.status_code, 'Rolled back' not in html)\n"
        "import re\n"
        "version = re.search(r'name=\"version\" value=\"([0-9a-f]+)\"', html)[1]\n"
        "d = {'path': 'jail.d/bangui-fleet.local', 'version': version,"
        " 'text': '[sshd]\\nmaxretry = seven\\n'}\n"
        "html = settled(c.post(SAVE, d, HTTP_HX_REQUEST='true'), d)\n"
        "print('BROKEN', 'maxretry = seven' in html, 'Not done' in html or 'Rolled back' in html)\n"
        "d = {'path': 'jail.d/bangui-fleet.local', 'version': 'absent', 'text': 'x'}\n"
        "settled(c.post(SAVE, d, HTTP_HX_REQUEST='true'), d)\n"
        "print('STALE', LAST.status_code)\n"
        "print('AUDIT', list(AuditEntry.objects.filter(action='config.save').order_by('id')"
        ".values_list('node', 'result')))\n"
        "print('ROLLBACK', 'rolled-back' if 'rolled it back' in AuditEntry.objects.filter("
        "action='config.save').order_by('id')[1].detail else 'no')\n"))
    lines = [line for line in done.stdout.splitlines() if line.split()[:1] in
             (["LIST"], ["READ"], ["SAVE"], ["BROKEN"], ["STALE"], ["AUDIT"], ["ROLLBACK"])]
    # One audit row per save, the dispatch's: the rolled-back and the stale
    # one answered but not done, so failed.
    assert lines == ["LIST True", "READ True", "SAVE 200 True", "BROKEN True True",
                     "STALE 409", "AUDIT [('b', 'ok'), ('b', 'failed'), ('b', 'failed')]",
                     "ROLLBACK rolled-back"], done.stdout + done.stderr
    written = boxes["b"].confdir / "jail.d" / "bangui-fleet.local"
    assert written.read_text() == "[sshd]\nmaxretry = 7\n"  # the broken save rolled back
    assert Fail2banClient(str(boxes["b"].socket)).jail_settings("sshd").maxretry == 7
    assert not (boxes["a"].confdir / "jail.d" / "bangui-fleet.local").exists()


def test_a_node_settles_its_answer_on_the_record_when_nobody_reads_it(two_nodes):
    """A command queued to b from a page that was closed (nobody polls):
    b writes its answer on the audit row itself, so the trail holds the
    answer, not "pending", also when django-q2 could not store the task's
    result."""
    proj, boxes, _ = two_nodes
    sent = proj.run("shell", "-c", (
        "from jails.fleet.dispatch import submit\n"
        "t = submit(['b'], 'ban', {'jail': 'sshd', 'ips': ['192.0.2.77']}, 'root')\n"
        "print(t.group)"))
    assert sent.returncode == 0, sent.stderr
    group = sent.stdout.strip().splitlines()[-1]

    def row():
        done = proj.run("shell", "-c", (
            "from accounts.models import AuditEntry\n"
            f"e = AuditEntry.objects.get(ref='{group}')\n"
            "print(e.node, e.result, e.detail)"))
        return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else done.stderr

    assert wait_for(lambda: row() == "b ok Banned 192.0.2.77 in sshd.", timeout=30,
                    interval=0.5), row()
    assert _banned(boxes["b"]) == {"192.0.2.77"}
