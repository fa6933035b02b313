"""Screenshots of every page, light, dark and phone (390 px), for a person
to look at (not committed: they land in var/screenshots/).

    .venv/bin/python scripts/screenshots.py [--out var/screenshots] [--pages /,/jails/]

Starts its own throwaway BanGUI: a sandboxed fail2ban-server with some real
bans (failed-login lines, a manual ban, a stopped jail), a temp data dir and
SQLite database, ``manage.py setup`` and one archive sync, gunicorn on a free
127.0.0.1 port; then Debian's Chromium (Playwright) logs in and shoots each
page three ways. Prints one line per file and any console error it saw.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jails.fail2ban import Fail2banClient  # noqa: E402
from jails.fail2ban.testing import Sandbox  # noqa: E402

PY = sys.executable
PASSWORD = "screenshot password 42"  # noqa: S105 (a throwaway admin)
PAGES = ["/", "/?window=365d", "/map/", "/jails/", "/jails/sshd/", "/jails/nginx-http-auth/",
         "/ip/203.0.113.10/", "/config/", "/config/file/?path=jail.conf",
         "/config/file/?path=jail.d/bangui-demo.local", "/config/regex/", "/config/server/",
         "/blocklists/", "/blocklists/new/", "/audit/", "/nodes/", "/nodes/bastion/",
         "/nodes/bastion/jails/sshd/", "/settings/",
         "/no/such/page/", "/login/"]
VIEWS = {"light": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "light"},
         "dark": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"},
         "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
                   "is_mobile": True, "has_touch": True, "color_scheme": "light"}}


def manage(env: dict, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def traffic(box: Sandbox) -> None:
    """A few real bans in sshd, a manual one, and nginx-http-auth stopped."""
    for n in range(10, 16):
        box.write_failures("sshd", f"203.0.113.{n}", 3)
    client = Fail2banClient(str(box.socket))
    client.ban("sshd", ["198.51.100.7"])
    deadline = time.monotonic() + 30
    while client.jail_status("sshd").currently_banned < 7 and time.monotonic() < deadline:
        time.sleep(0.3)


def serve(env: dict, logdir: Path):
    log = logdir / "gunicorn.log"
    proc = subprocess.Popen([str(Path(PY).with_name("gunicorn")), "bangui.wsgi", "--workers", "2",
                             "--bind", "127.0.0.1:0", "--error-logfile", str(log)],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        if found and text.count("Booting worker") >= 2:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"gunicorn did not start:\n{log.read_text() if log.exists() else ''}")


def shoot(base: str, pages: list[str], out: Path) -> int:
    from playwright.sync_api import sync_playwright

    errors = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get(
            "BANGUI_TEST_CHROMIUM", "/usr/bin/chromium"), headless=True,
            args=["--no-sandbox", "--disable-gpu"])
        for name, options in VIEWS.items():
            context = browser.new_context(**options)
            page = context.new_page()
            seen: list[str] = []
            page.on("console", lambda m, s=seen: s.append(m.text) if m.type == "error" else None)
            page.goto(base + "/login/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(lambda url: "/login/" not in url)
            for path in pages:
                if path == "/login/":
                    continue
                response = page.goto(base + path)
                page.wait_for_load_state("networkidle")
                if response is not None and response.status == 404:
                    seen[:] = [t for t in seen if "status of 404" not in t]  # the page itself
                slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "dashboard"
                target = out / f"{slug}.{name}.png"
                page.screenshot(path=str(target), full_page=True)
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                note = f"  ({wide}px wider than the screen)" if wide > 0 else ""
                print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
                      f"{note}")
                for text in seen:
                    print(f"    console error on {path} ({name}): {text}")
                errors += len(seen)
                seen.clear()
            context.close()
        browser.close()
    return errors


def _wait_for_live_bans(db: Path, node: str, timeout: float = 60) -> None:
    """Until the worker's first tick published its live bans (the
    dashboard's Now column and /nodes/NODE/ read them)."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db, timeout=5) as con:
                if con.execute("SELECT 1 FROM jails_livebanstate WHERE node = ? AND known",
                               [node]).fetchone():
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.5)
    print(f"node {node} published no live bans in {timeout:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "var" / "screenshots"))
    parser.add_argument("--pages", default=",".join(PAGES))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bangui-shots-"))
    box = Sandbox(tmp / "f2b")
    box.start()
    proc = worker = None
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
               "BANGUI_DATA_DIR": str(tmp / "data"), "BANGUI_LOG_LEVEL": "WARNING",
               "BANGUI_FAIL2BAN_SOCKET": str(box.socket),
               "BANGUI_FAIL2BAN_CONFIG_DIR": str(box.confdir),
               "BANGUI_REGEX_LOG_DIRS": str(box.logdir),
               "DJANGO_SETTINGS_MODULE": "bangui.settings", "PYTHONPATH": str(ROOT),
               "DATABASE_URL": ""}
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "setup", "--username", "admin", "--password-file", "-",
               "--socket", str(box.socket), stdin=PASSWORD + "\n")
        (box.confdir / "jail.d" / "bangui-demo.local").write_text("[sshd]\nmaxretry = 3\n")
        traffic(box)
        manage(env, "sync_bans")
        Fail2banClient(str(box.socket)).stop_jail("nginx-http-auth")
        # A running task cluster registers this host as a node (/nodes/).
        worker = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"],
                                  cwd=ROOT, env={**env, "BANGUI_NODE": "bastion"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_live_bans(tmp / "data" / "bangui.sqlite3", "bastion")
        proc, port = serve(env, tmp)
        errors = shoot(f"http://127.0.0.1:{port}", args.pages.split(","), out)
        print(f"{errors} console error(s); screenshots in {out}")
    finally:
        for p in (proc, worker):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)
        box.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
