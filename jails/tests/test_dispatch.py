"""One dispatch for every fail2ban action (jails/fleet/dispatch.py), with real
processes: two sandboxed fail2ban-servers and a ``qcluster`` for each (nodes
a and b), and a web tier whose own node is a (``BANGUI_NODE=a``, a's socket).
The same actions, through the same views, with the same assertions, run
once against a (in the web's process) and once against b (queued to b's
command lane, answered while the page polls)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bangui.tests.conftest import project, wait_for_text  # noqa: F401 (the fixture)
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import sshd_failure_line
from jails.tests.test_fleet_commands import SIGNED_IN, two_nodes  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")

# Each step: (what the view is asked, text its settled answer must show).
# The jail page's actions at /nodes/NODE/jails/sshd/... (one set of views
# for every node); the node page's "Start a jail"; the dashboard's ban form.
STEPS = (
    "J = f'/nodes/{N}/jails/sshd/'\n"
    "r = c.post('/bans/ban/', {'ip': '192.0.2.90', 'jail': 'sshd', 'node': N}, **HX)\n"
    "say('BAN', 'Banned 192.0.2.90 in sshd.' in settled(r), banned())\n"
    "r = c.post(J + 'ignore/add/', {'value': '198.51.100.0/24'}, **HX)\n"
    "say('IGNORE', 'sshd now ignores 198.51.100.0/24' in settled(r),"
    " '198.51.100.0/24' in f2b.ignore_list('sshd'))\n"
    "r = c.post(J + 'ignore/remove/', {'value': '198.51.100.0/24'}, **HX)\n"
    "say('UNIGNORE', 'sshd no longer ignores 198.51.100.0/24.' in settled(r),"
    " '198.51.100.0/24' in f2b.ignore_list('sshd'))\n"
    "r = c.post(J + 'idle/', {'on': 'on'}, **HX)\n"
    "say('IDLE', 'sshd is idle: it ignores new failures.' in settled(r))\n"
    "r = c.post(J + 'idle/', **HX)\n"
    "say('WATCH', 'sshd is watching again.' in settled(r),"
    " 'resumed by root' in c.get(J).content.decode())\n"
    "r = c.post(J + 'ignore/self/', {'on': 'on'}, **HX)\n"
    "say('SELF', 'sshd ignores this host' in settled(r), f2b.jail_settings('sshd').ignore_self)\n"
    "r = c.post(J + 'ignore/self/', **HX)\n"
    "say('NOSELF', 'no longer ignores' in settled(r), f2b.jail_settings('sshd').ignore_self)\n"
    "r = c.post(J + 'unban/', {'ip': '192.0.2.90'}, **HX)\n"
    "say('UNBAN', 'Unbanned 192.0.2.90 from sshd.' in settled(r), banned())\n"
    "f2b.ban('sshd', ['192.0.2.91', '192.0.2.92'])\n"
    "r = c.post(J + 'unban-all/', **HX)\n"
    "say('UNBANALL', 'Unbanned all 2 IPs from sshd.' in settled(r), banned())\n"
    "r = c.post(J + 'reload/', **HX)\n"
    "say('RELOAD', 'Reloaded sshd from its config.' in settled(r))\n"
    "r = c.post(J + 'stop/', **HX)\n"
    "say('STOP', 'Stopped sshd; its 0 bans were lifted.' in settled(r), f2b.jail_names())\n"
    "r = c.post(J + 'start/', **HX)\n"
    "say('START', 'Started sshd.' in settled(r), f2b.jail_names())\n"
    # The config changes (the jail's .local, a filter, BanGUI's jails, the
    # server's settings): one transaction on the node whose files they are.
    "r = c.post(J + 'settings/', {'maxretry': '7'}, **HX)\n"
    "say('SETTINGS', 'Updated maxretry of sshd.' in settled(r),"
    " f2b.jail_settings('sshd').maxretry)\n"
    "CP = f'/nodes/{N}/config/'\n"
    "r = c.post(CP + 'filters/create/', {'name': 'myapp', 'failregex': 'x from <HOST>'}, **HX)\n"
    "say('FILTER', 'myapp' in settled(r), (CONF / 'filter.d/myapp.local').exists())\n"
    "r = c.post(CP + 'provision/', **HX)\n"
    "say('PROVISION', 'Not done' not in settled(r), sorted(f2b.jail_names()))\n"
    "r = c.post(J + 'disable/', **HX)\n"
    "say('DISABLE', 'Disabled sshd.' in settled(r), 'sshd' in f2b.jail_names())\n"
    "r = c.post(J + 'enable/', **HX)\n"
    "say('ENABLE', 'Enabled sshd.' in settled(r), 'sshd' in f2b.jail_names())\n"
    "r = c.post(CP + 'server/save/', {'loglevel': 'DEBUG', 'logtarget': 'FILE',"
    " 'logfile': str(LOG), 'dbpurgeage': '172800'}, **HX)\n"
    "say('SERVER', 'Set loglevel DEBUG' in settled(r), f2b.server_settings().dbpurgeage)\n"
    "d = {'lines': LINES, 'filter_name': 'sshd', 'node': N}\n"
    "html = settled(c.post('/config/regex/', d, **HX), d)\n"
    "say('REGEX', LAST.status_code, '192.0.2.10' in html)\n"
    "r = c.post('/bans/ban/', {'ip': '192.0.2.999', 'jail': 'sshd', 'node': N}, **HX)\n"
    "say('BAD', 'is not a valid' in settled(r))\n"
    "from accounts.models import AuditEntry\n"
    "rows = AuditEntry.objects.filter(node=N)\n"
    "say('AUDIT', rows.count(), sorted(set(rows.values_list('result', flat=True))))\n"
    "from jails.models import BanEvent\n"
    "e = BanEvent.objects.get(ip='192.0.2.90')\n"
    "say('ARCHIVE', e.node == N, e.actor, e.unbanned_by)\n"
)
EXPECTED = ["BAN True ['192.0.2.90']", "IGNORE True True", "UNIGNORE True False",
            "IDLE True", "WATCH True True", "SELF True True", "NOSELF True False",
            "UNBAN True []", "UNBANALL True []", "RELOAD True", "STOP True []",
            "START True ['sshd']", "SETTINGS True 7", "FILTER True True",
            "PROVISION True ['blocklist-import', 'manual', 'permanent', 'shared-bans', 'sshd']",
            "DISABLE True False", "ENABLE True True", "SERVER True 172800",
            "REGEX 200 True", "BAD True", "AUDIT 18 ['ok']", "ARCHIVE True root root"]


@pytest.mark.parametrize("node", ["a", "b"], ids=["this-host-in-process", "other-node-queued"])
def test_every_action_works_the_same_on_this_hosts_node_and_on_another(two_nodes, node):  # noqa: F811
    proj, boxes, _ = two_nodes
    lines = sshd_failure_line("192.0.2.10").replace("sshd[", "sshd[1")
    done = proj.run("shell", "-c", (
        SIGNED_IN +
        "from jails.fail2ban import Fail2banClient\n"
        f"N = {node!r}; LINES = {lines!r}; HX = {{'HTTP_HX_REQUEST': 'true'}}\n"
        f"f2b = Fail2banClient({str(boxes[node].socket)!r})\n"
        f"from pathlib import Path; CONF = Path({str(boxes[node].confdir)!r})\n"
        f"LOG = Path({str(boxes[node].server_log)!r})\n"
        "def banned(): return f2b.jail_status('sshd').banned_ips\n"
        "def say(*words): print('STEP', *words)\n" + STEPS),
        env={"BANGUI_NODE": "a", "BANGUI_FAIL2BAN_SOCKET": str(boxes["a"].socket),
             "BANGUI_FAIL2BAN_CONFIG_DIR": str(boxes["a"].confdir),
             "BANGUI_LOGTARGET_DIRS": str(boxes[node].logdir)}, timeout=240)
    steps = [line.removeprefix("STEP ") for line in done.stdout.splitlines()
             if line.startswith("STEP ")]
    assert steps == EXPECTED, done.stdout + done.stderr
    other = "b" if node == "a" else "a"  # nothing reached the other node
    assert Fail2banClient(str(boxes[other].socket)).jail_status("sshd").total_banned == 0


def test_a_command_to_a_node_does_not_wait_behind_its_long_tasks(two_nodes):  # noqa: F811
    """b's main lane runs a 60 s task; a ban for b still lands at once: the
    CLI gets b's answer within a 2 s wait (it would say "no answer" if the
    ban had queued behind the task)."""
    proj, boxes, _ = two_nodes
    started = proj.run("shell", "-c", (
        "import time\n"
        "from django_q.models import OrmQ\n"
        "from django_q.tasks import async_task\n"
        "async_task('time.sleep', 60, cluster='node-b', task_name='a long task')\n"
        "deadline = time.monotonic() + 20\n"  # b's worker has taken it
        "from django.utils import timezone\n"  # a taken task's lock is in the future
        "def waiting(): return OrmQ.objects.filter(key='node-b', lock__lte=timezone.now())"
        ".exists()\n"
        "while waiting() and time.monotonic() < deadline: time.sleep(0.1)\n"
        "time.sleep(0.5)\n"  # (the worker starts it as soon as the queue hands it over)
        "print('TAKEN', not waiting())"))
    assert started.stdout.strip().splitlines()[-1] == "TAKEN True", started.stderr
    done = proj.run("f2b", "--node", "b", "ban", "sshd", "192.0.2.95",
                    env={"BANGUI_COMMAND_WAIT_SECONDS": "2"})
    assert (done.returncode, done.stdout.strip()) == (0, "b: Banned 192.0.2.95 in sshd."), (
        done.stderr)
    assert "192.0.2.95" in Fail2banClient(str(boxes["b"].socket)).jail_status("sshd").banned_ips


def _gunicorn(proj, env: dict) -> tuple[subprocess.Popen, str]:
    assert proj.run("collectstatic", "--noinput", "-v0", env=env).returncode == 0
    errors = proj.data_dir / "gunicorn.log"
    errors.touch()
    proc = subprocess.Popen(
        [str(GUNICORN), "bangui.wsgi", "--workers", "2", "--bind", "127.0.0.1:0",
         "--error-logfile", str(errors)], cwd=ROOT, env={**proj.env, **env},
        stdin=subprocess.DEVNULL, start_new_session=True)
    proj.procs.append(proc)
    text = wait_for_text(errors, "Booting worker", timeout=60)
    return proc, re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", text).group(1)


def _signed_in(proj, boxes, page, next_path: str) -> tuple[str, list[str]]:
    """gunicorn for the web tier of node a, and Chromium signed in as root
    on ``next_path``: the base URL and the list the page's console errors
    go to. A page test: SQLite is enough."""
    if "DATABASE_URL" in proj.env:
        pytest.skip("a page test: SQLite is enough")
    env = {"BANGUI_NODE": "a", "BANGUI_FAIL2BAN_SOCKET": str(boxes["a"].socket)}
    made = proj.run("shell", "-c", SIGNED_IN.replace("'x' * 20", "'browser password 42'"),
                    env=env)
    assert made.returncode == 0, made.stderr
    _, base = _gunicorn(proj, env)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login/?next={next_path}")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("browser password 42")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    return base, errors


@pytest.mark.browser
def test_a_ban_on_another_node_shows_pending_then_its_answer(two_nodes, page):  # noqa: F811
    """In Chromium: the dashboard's ban form aimed at node b answers at once
    with "Waiting for b…"; b's answer replaces it without a reload."""
    proj, boxes, _ = two_nodes
    _, errors = _signed_in(proj, boxes, page, "/")
    form = page.locator("section.manual-ban form")
    form.get_by_label("IP address").fill("192.0.2.97")
    form.get_by_label("On node").select_option("b")
    page.once("dialog", lambda d: d.accept())  # "Ban this IP now?"
    page.evaluate("() => { window.notReloaded = true; }")
    form.get_by_role("button", name="Ban").click()
    result = page.get_by_test_id("result")
    from playwright.sync_api import expect

    expect(result).to_contain_text("Waiting for b to answer")
    if os.environ.get("BANGUI_TEST_SHOTS"):  # a look at the pending answer (not in CI)
        page.screenshot(path=f"{os.environ['BANGUI_TEST_SHOTS']}/pending.png", full_page=False)
    expect(result).to_have_text("On b: Banned 192.0.2.97 in sshd.", timeout=15_000)
    # The answer replaced the message only: the ban table around it and the
    # address bar are the dashboard's still.
    expect(page.locator("#ban-table")).to_have_count(1)
    assert "/commands/" not in page.url
    assert page.evaluate("() => window.notReloaded") is True  # answered in place
    assert "192.0.2.97" in Fail2banClient(str(boxes["b"].socket)).jail_status("sshd").banned_ips
    assert errors == []


@pytest.mark.browser
def test_a_nodes_config_file_and_regex_test_answer_in_place(two_nodes, page):  # noqa: F811
    """In Chromium: b's config list, a file of b's, a save on b and a regex
    test on b each show "Waiting for b to answer…" at once, and b's answer
    replaces it without a reload (the web never waits on a node)."""
    from playwright.sync_api import expect

    proj, boxes, _ = two_nodes
    base, errors = _signed_in(proj, boxes, page, "/nodes/b/config/")
    shots = os.environ.get("BANGUI_TEST_SHOTS")

    expect(page.get_by_test_id("node-config-files")).to_contain_text("jail.conf",
                                                                     timeout=15_000)
    page.evaluate("() => { window.notReloaded = true; }")
    page.goto(f"{base}/nodes/b/config/file/?path=jail.d/bangui-browser.local")
    waiting = page.get_by_test_id("waiting")
    if waiting.count():  # b may answer before the first look
        expect(waiting).to_contain_text("Waiting for b to answer")
        if shots:
            page.screenshot(path=f"{shots}/config-waiting.png")
    expect(page.get_by_label("New file (does not exist yet)")).to_be_visible(timeout=15_000)
    page.get_by_label("New file (does not exist yet)").fill("[sshd]\nmaxretry = 6\n")
    page.evaluate("() => { window.notReloaded = true; }")
    page.once("dialog", lambda d: d.accept())  # "Save … and reload fail2ban on b?"
    page.get_by_role("button", name="Save and reload").click()
    expect(page.get_by_test_id("result")).to_contain_text("Saved", timeout=20_000)
    assert page.evaluate("() => window.notReloaded") is True
    assert (boxes["b"].confdir / "jail.d" / "bangui-browser.local").read_text() == (
        "[sshd]\nmaxretry = 6\n")

    page.goto(f"{base}/config/regex/")
    page.get_by_label("Log lines").fill(
        sshd_failure_line("192.0.2.10").replace("sshd[", "sshd[1"))
    page.get_by_label("Existing filter").select_option("sshd")
    page.get_by_label("Run on").select_option("b")
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_test_id("result")).to_contain_text("tested from pasted lines on b",
                                                          timeout=20_000)
    expect(page.get_by_test_id("hosts")).to_contain_text("192.0.2.10")
    if shots:
        page.screenshot(path=f"{shots}/regex-on-b.png")
    assert errors == []


@pytest.mark.browser
def test_another_nodes_jail_settings_and_config_page_answer_in_place(two_nodes, page):  # noqa: F811
    """In Chromium: b's jail page has the settings form (b published its
    config); a save says "Waiting for b…" and b's answer replaces it; b's
    config page creates a filter on b; the Jails page lists b's stopped
    jails with Start."""
    from playwright.sync_api import expect

    proj, boxes, _ = two_nodes
    base, errors = _signed_in(proj, boxes, page, "/nodes/b/jails/sshd/")
    shots = os.environ.get("BANGUI_TEST_SHOTS")
    form = page.locator("#jail-main form.card")
    expect(form.get_by_label("Max retries")).to_be_visible(timeout=15_000)
    form.get_by_label("Max retries").fill("9")
    page.evaluate("() => { window.notReloaded = true; }")
    page.once("dialog", lambda d: d.accept())  # "Save to jail.d/sshd.local and reload?"
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("result")).to_have_text(
        re.compile(r"On b: Updated maxretry of sshd\."), timeout=20_000)
    assert page.evaluate("() => window.notReloaded") is True
    assert Fail2banClient(str(boxes["b"].socket)).jail_settings("sshd").maxretry == 9
    if shots:
        page.screenshot(path=f"{shots}/node-jail-settings.png", full_page=True)
        page.emulate_media(color_scheme="dark")
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=f"{shots}/node-jail-settings-dark-390.png", full_page=True)
        page.emulate_media(color_scheme="light")
        page.set_viewport_size({"width": 1280, "height": 720})

    page.goto(f"{base}/nodes/b/config/")
    page.get_by_label("Filter name").fill("browserapp")
    page.get_by_label("failregex").fill("denied from <HOST>")
    page.get_by_role("button", name="Create filter").click()
    expect(page.locator("#filter-create [data-testid=result]")).to_contain_text(
        "filter.d/browserapp.local", timeout=20_000)
    assert (boxes["b"].confdir / "filter.d" / "browserapp.local").exists()
    assert not (boxes["a"].confdir / "filter.d" / "browserapp.local").exists()
    if shots:
        page.screenshot(path=f"{shots}/node-config.png", full_page=True)

    Fail2banClient(str(boxes["b"].socket)).stop_jail("sshd")
    page.goto(f"{base}/jails/")  # b's worker publishes within seconds
    stopped = page.get_by_test_id("inactive-jails-b")
    for _ in range(30):
        if stopped.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(stopped).to_contain_text("sshd")
    expect(stopped.get_by_role("button", name="Start")).to_be_visible()
    if shots:
        page.screenshot(path=f"{shots}/jails-node-stopped.png", full_page=True)
    assert errors == []
