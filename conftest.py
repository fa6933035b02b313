"""Shared fixtures: a real, sandboxed fail2ban-server and a real browser."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from jails.fail2ban import Fail2banClient
from jails.fail2ban.sandbox import Sandbox

CHROMIUM = os.environ.get("BANGUI_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def f2b_sandbox(tmp_path_factory) -> Sandbox:
    """One fail2ban-server for the whole run (it starts in ~0.3 s, but its
    jails and db are shared state that ``f2b`` resets for every test)."""
    if not shutil.which("fail2ban-client"):
        pytest.fail("fail2ban is not installed: run scripts/setup.sh (apt-get install fail2ban)")
    sandbox = Sandbox(Path(tmp_path_factory.mktemp("f2b")))
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def f2b(f2b_sandbox: Sandbox, settings) -> Sandbox:
    """The sandbox, running, with no bans, and BanGUI pointed at it."""
    if not f2b_sandbox.is_running():
        f2b_sandbox.start()
    client = Fail2banClient(str(f2b_sandbox.socket))
    running = set(client.jail_names())
    wanted = {j.name for j in f2b_sandbox.jails if j.enabled}
    if running != wanted:
        f2b_sandbox.stop()
        f2b_sandbox.write_config()
        f2b_sandbox.start()
    client.unban_all()
    for jail in f2b_sandbox.jails:
        if jail.enabled:
            f2b_sandbox.log_path(jail.name).write_text("")
    settings.FAIL2BAN_SOCKET = str(f2b_sandbox.socket)
    settings.FAIL2BAN_CONFIG_DIR = str(f2b_sandbox.confdir)
    return f2b_sandbox


@pytest.fixture
def f2b_client(f2b: Sandbox) -> Fail2banClient:
    return Fail2banClient(str(f2b.socket))


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1):
    """Poll until ``predicate()`` is truthy (fail2ban's polling backend needs
    a second or two to notice new log lines). Returns the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; no browser download."""
    # Playwright's sync API runs an event loop in this thread; Django's ORM
    # calls made by the test itself are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/setup.sh")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
