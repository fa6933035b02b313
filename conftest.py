"""Shared fixtures: a real, sandboxed fail2ban-server and a real browser."""

from __future__ import annotations

import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Fail2banInstall, Sandbox, fail2ban_under_test

CHROMIUM = os.environ.get("BANGUI_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session", autouse=True)
def fail2ban_install() -> Fail2banInstall:
    """The fail2ban every test runs: the system's, or the release named by
    BANGUI_TEST_FAIL2BAN (scripts/test.sh's matrix). For one of those, its
    bin/ goes first on PATH for the whole run, so that whatever runs
    ``fail2ban-client``, ``fail2ban-regex`` or ``fail2ban-server`` by name
    (BanGUI's defaults, a qcluster or manage.py the test starts) runs it."""
    try:
        install = fail2ban_under_test()
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=4)
    if install.bindir is None:
        yield install
        return
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{install.bindir}{os.pathsep}{saved}"
    yield install
    os.environ["PATH"] = saved


@pytest.fixture(scope="session")
def f2b_sandbox(tmp_path_factory, fail2ban_install) -> Sandbox:
    """One fail2ban-server for the whole run (it starts in ~0.3 s, but its
    jails and db are shared state that ``f2b`` resets for every test)."""
    if not shutil.which(fail2ban_install.client):
        pytest.fail("fail2ban is not installed: run scripts/setup.sh (apt-get install fail2ban)")
    sandbox = Sandbox(Path(tmp_path_factory.mktemp("f2b")), install=fail2ban_install)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def f2b(f2b_sandbox: Sandbox, settings) -> Sandbox:
    """The sandbox, running, with no bans and empty jail logs, and BanGUI
    pointed at it."""
    if not f2b_sandbox.is_running():
        f2b_sandbox.start()
    client = Fail2banClient(str(f2b_sandbox.socket))
    running = set(client.jail_names())
    wanted = {j.name for j in f2b_sandbox.jails if j.enabled}
    # Config-editing tests leave .local files behind: remove them and restart
    # from the pristine config (costs ~1 s, only after such a test).
    stray = [p for d in ("", "jail.d", "filter.d", "action.d", "fail2ban.d")
             for p in (f2b_sandbox.confdir / d).glob("*.local")]
    for p in stray:
        p.unlink()
    if running != wanted or stray:
        f2b_sandbox.stop()
        f2b_sandbox.write_config()
        f2b_sandbox.start()
    client.unban_all()
    # Empty jail logs: no test sees an earlier test's lines (Sandbox.clear_logs
    # also resets fail2ban's read offset, which a bare truncation would not).
    f2b_sandbox.clear_logs()
    settings.FAIL2BAN_SOCKET = str(f2b_sandbox.socket)
    settings.FAIL2BAN_CONFIG_DIR = str(f2b_sandbox.confdir)
    settings.FAIL2BAN_CLIENT = f2b_sandbox.install.client
    settings.BANGUI_FAIL2BAN_REGEX = f2b_sandbox.install.regex
    return f2b_sandbox


@pytest.fixture
def f2b_client(f2b: Sandbox) -> Fail2banClient:
    return Fail2banClient(str(f2b.socket))


@pytest.fixture
def process_time_zone():
    """Run the test process in another local zone (``TZ`` + ``tzset``, as
    Django does for TIME_ZONE), restored afterwards."""
    saved = os.environ.get("TZ")

    def use(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield use
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


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


# --- accounts: setup state, users per role, logged-in clients -----------------
TEST_PASSWORD = "correct horse battery staple 42"  # noqa: S105 (test users only)


@pytest.fixture(autouse=True)
def _fresh_setup_gate():
    """The "setup done" flag is a process-local cache of a database row;
    every test starts from its own database, so from a cold cache."""
    from accounts.setup import gate

    gate().reset()
    yield
    gate().reset()


def pytest_configure(config):
    """Django's cache is files in the data directory, shared by the host's
    processes (bangui/settings.py). The test process (each xdist worker) gets
    a directory of its own, so its per-test clear never empties another
    worker's; a BanGUI the test starts keeps its own data directory's."""
    import tempfile

    from django.conf import settings

    if settings.CACHES["default"]["BACKEND"].endswith("FileCache"):
        settings.CACHES["default"]["LOCATION"] = tempfile.mkdtemp(prefix="bangui-test-cache-")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Django's cache is shared by every test in the process: the archive
    aggregates cached by one test must not answer the next test's query."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_geo_cache():
    """The process's GeoCache (held by the geo AppConfig, built on first use)
    keeps answers, a negative cache and pending last_seen touches in memory:
    every test starts without one, as a new process would."""
    from django.apps import apps

    def drop():
        config = apps.get_app_config("geo")
        cache, config._cache = config._cache, None
        if cache is not None:
            cache.close()

    drop()
    yield
    drop()


@pytest.fixture
def setup_done(db):
    """Mark setup complete (no admin, no runtime settings: the socket still
    comes from settings.FAIL2BAN_SOCKET, which ``f2b`` points at the sandbox)."""
    from accounts.models import SetupCompletion

    return SetupCompletion.objects.create(method="test")


def ensure_roles() -> None:
    """The role groups and their permissions, as the migrations make them,
    after a transactional test's flush removed them."""
    from importlib import import_module

    from django.apps import apps
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name="support").exists():
        import_module("accounts.migrations.0002_roles").create_roles(apps, None)
        import_module("accounts.migrations.0006_support_role").create_support(apps, None)


def _make_user(django_user_model, username: str, role: str | None = None, **extra):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username=username, password=TEST_PASSWORD,
                                                 **extra)
    if role:
        ensure_roles()
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def admin_user(setup_done, django_user_model):
    return _make_user(django_user_model, "admin", is_staff=True, is_superuser=True)


@pytest.fixture
def operator_user(setup_done, django_user_model):
    return _make_user(django_user_model, "operator", role="operator")


@pytest.fixture
def viewer_user(setup_done, django_user_model):
    return _make_user(django_user_model, "viewer", role="viewer")


@pytest.fixture
def support_user(setup_done, django_user_model):
    return _make_user(django_user_model, "support", role="support")


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def operator_client(operator_user):
    return _client_for(operator_user)


@pytest.fixture
def viewer_client(viewer_user):
    return _client_for(viewer_user)


@pytest.fixture
def support_client(support_user):
    return _client_for(support_user)


def console_errors(page) -> list[str]:
    """The console errors and page errors ``page`` meets from now on (a list
    that fills as it goes): a browser test asserts it stays empty."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"{m.type}: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    return seen


def login_page(page, live_server, user, password: str = TEST_PASSWORD, next_path: str = "/"):
    """Log ``user`` in through the real login form; the page ends on ``next_path``."""
    from urllib.parse import quote

    page.goto(f"{live_server.url}/login/?next={quote(next_path)}")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    return page


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Test on a SQLite *file* (WAL, busy timeout) as production does, not on
    Django's shared-cache in-memory database, whose table locks fail at once
    instead of waiting: concurrent-write tests (setup races, claim-then-act
    tasks) then see the real behaviour."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


class TrickleServer:
    """A server socket (TCP or Unix, bound and listening) that answers every
    connection slowly: after the request it sends ``head`` at once, then
    ``body`` one byte every ``interval`` seconds (an empty body: it holds
    the connection and says nothing). It counts connections and stops by
    itself after ``seconds``. For the faults a real server cannot show on
    demand: a reply that trickles, a peer that never answers."""

    def __init__(self, sock, head: bytes, body: bytes, interval: float = 0.1,
                 seconds: float = 20.0):
        self.sock, self.head, self.body, self.interval = sock, head, body, interval
        self.connections = 0
        self.stop = threading.Event()
        self.end = time.monotonic() + seconds
        self.sock.settimeout(0.1)
        threading.Thread(target=self._serve, daemon=True).start()

    def _live(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.end

    def _serve(self):
        while self._live():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        try:
            conn.settimeout(1)
            conn.recv(65536)
            conn.sendall(self.head)
            for i in range(len(self.body) or 10**9):
                if not self._live():
                    break
                if self.body:
                    conn.sendall(self.body[i:i + 1])
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


class Routes:
    """path -> list of (status, headers, body, delay); each hit pops the first
    entry until one is left."""

    def __init__(self):
        self.routes: dict[str, list[tuple[int, dict, bytes, float]]] = {}
        self.hits: dict[str, int] = {}

    def add(self, path, status=200, body=b"", headers=None, delay=0.0):
        self.routes.setdefault(path, []).append((status, headers or {}, body, delay))


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 with scripted answers per path."""
    routes = Routes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            routes.hits[self.path] = routes.hits.get(self.path, 0) + 1
            entries = routes.routes.get(self.path) or [(404, {}, b"no", 0.0)]
            status, headers, body, delay = entries[0] if len(entries) == 1 else entries.pop(0)
            time.sleep(delay)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    routes.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield routes
    httpd.shutdown()
    httpd.server_close()
