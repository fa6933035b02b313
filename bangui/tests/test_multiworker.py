"""Many web workers share one database (any number of gunicorn workers, docs/architecture.md).

Starts a real gunicorn with 4 workers on a free loopback port, with its own
data dir and database (a SQLite file in tmp_path, or a throwaway PostgreSQL
database ``bangui_mw_<random>`` on the server of this run's DATABASE_URL,
dropped afterwards), set up with ``manage.py setup`` and pointed at the
sandboxed fail2ban. One login, then requests spread over the workers: every
one is authenticated, and a ban made through one request shows on the pages
the other workers serve afterwards.

Which worker served a request is read from gunicorn's own access log (the
``%(p)s`` atom is the worker's pid): nothing is added to BanGUI's responses.
scripts/test.sh runs the suite on SQLite and on PostgreSQL, so both are covered.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
PASSWORD = "multi worker password 42"
BANNED = "198.51.100.77"

pytestmark = pytest.mark.slow


def _postgres_params() -> dict | None:
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return None
    return {"host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432,
            "user": db.get("USER") or "postgres", "password": db.get("PASSWORD") or None,
            "dbname": "postgres"}


@contextmanager
def _database(tmp_path: Path):
    """DATABASE_URL for the server: empty (SQLite in its data dir) or a fresh
    PostgreSQL database that is dropped afterwards."""
    params = _postgres_params()
    if params is None:
        yield ""
        return
    import psycopg
    from psycopg import sql

    name = f"bangui_mw_{secrets.token_hex(4)}"
    with psycopg.connect(**params, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    auth = params["user"] + (f":{params['password']}" if params["password"] else "")
    try:
        yield f"postgres://{auth}@{params['host']}:{params['port']}/{name}"
    finally:
        with psycopg.connect(**params, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                        .format(sql.Identifier(name)))


def _manage(env: dict, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@contextmanager
def gunicorn(tmp_path: Path, f2b, workers: int, extra_env: dict | None = None):
    """A migrated, set-up BanGUI under gunicorn. Yields (base_url, access_log)."""
    with _database(tmp_path) as database_url:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "BANGUI_DATA_DIR": str(tmp_path / "data"),
            "BANGUI_FAIL2BAN_SOCKET": str(f2b.socket),
            "BANGUI_FAIL2BAN_CONFIG_DIR": str(f2b.confdir),
            "BANGUI_LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "collectstatic", "--noinput", "-v", "0")
        _manage(env, "setup", "--username", "admin", "--password-file", "-",
                "--socket", str(f2b.socket), stdin=PASSWORD + "\n")
        access, errors = tmp_path / "access.log", tmp_path / "error.log"
        proc = subprocess.Popen(
            [str(GUNICORN), "bangui.wsgi", "--workers", str(workers),
             "--bind", "127.0.0.1:0", "--access-logfile", str(access),
             "--access-logformat", "%(p)s %(s)s %(m)s %(U)s",
             "--error-logfile", str(errors), "--graceful-timeout", "5"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
        try:
            base = _wait_for_listen(proc, errors)
            _wait_for_workers(errors, workers)
            yield base, access
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_listen(proc: subprocess.Popen, errors: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"gunicorn exited:\n{_read(errors)}"
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", _read(errors))
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not listen within 60 s:\n{_read(errors)}")


def _wait_for_workers(errors: Path, workers: int) -> None:
    deadline = time.monotonic() + 60
    while _read(errors).count("Booting worker") < workers:
        assert time.monotonic() < deadline, _read(errors)
        time.sleep(0.1)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _login(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(f"{base}/login/", timeout=30, allow_redirects=False,
                            data={"username": "admin", "password": PASSWORD,
                                  "csrfmiddlewaretoken": token},
                            headers={"Referer": f"{base}/login/"})
    assert response.status_code == 302, response.text[:500]
    return session


def _served_by(access: Path, path: str) -> Counter:
    """Worker pid -> requests for ``path`` (gunicorn writes the log per request)."""
    pids: Counter = Counter()
    for line in _read(access).splitlines():
        pid, _status, _method, url = line.split(" ", 3)
        if url == path:
            pids[pid] += 1
    return pids


def _wait_for_log(access: Path, path: str, count: int) -> Counter:
    deadline = time.monotonic() + 10
    pids = _served_by(access, path)
    while sum(pids.values()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = _served_by(access, path)
    return pids


def test_it_serves_one_session_from_every_worker(tmp_path, f2b):
    pages = ["/", "/jails/", "/jails/sshd/", "/map/", "/audit/"]
    with gunicorn(tmp_path, f2b, workers=4) as (base, access):
        session = _login(base)

        def fetch(path: str):
            # A fresh connection per request (Connection: close), 4 at a time,
            # so the sync workers must share the 200 between them.
            own = requests.Session()
            own.cookies.update(session.cookies)
            return path, own.get(f"{base}{path}", timeout=30, allow_redirects=False,
                                 headers={"Connection": "close"})

        statuses = Counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            for path, response in pool.map(fetch, [pages[i % len(pages)] for i in range(200)]):
                statuses[response.status_code] += 1
                assert response.status_code == 200, (path, response.status_code)
                assert "Log out" in response.text or "logout" in response.text
        assert statuses == {200: 200}
        served = Counter()
        for path in pages:
            served += _wait_for_log(access, path, 40)
        assert sum(served.values()) >= 200
        print(f"requests per worker pid: {dict(served)}")
        assert len(served) >= 2, f"all requests went to one worker: {served}"


def test_it_shows_a_ban_made_on_one_worker_on_the_others(tmp_path, f2b):
    with gunicorn(tmp_path, f2b, workers=4) as (base, access):
        session = _login(base)
        token = session.cookies["csrftoken"]
        response = session.post(f"{base}/bans/ban/", data={"ip": BANNED, "jail": "sshd"},
                                headers={"X-CSRFToken": token, "Referer": f"{base}/",
                                         "Connection": "close"}, timeout=30)
        assert response.status_code == 200, response.text[:500]
        ban_pid = next(iter(_wait_for_log(access, "/bans/ban/", 1)))

        # The archive (database), the audit trail (database) and the jail's
        # live list (fail2ban), each asked several times over new connections,
        # 8 at a time: a sync worker serves one request at a time, so the
        # others must answer too (one by one, a single idle worker may win
        # every accept).
        checks = {"/": BANNED, f"/ip/{BANNED}/": "manual", "/audit/": BANNED,
                  "/jails/sshd/": BANNED}

        def fetch(path: str):
            own = requests.Session()  # Sessions are not shared across threads
            own.cookies.update(session.cookies)
            return path, own.get(f"{base}{path}", headers={"Connection": "close"}, timeout=30)

        with ThreadPoolExecutor(max_workers=8) as pool:
            for path, page in pool.map(fetch, [p for _ in range(6) for p in checks]):
                assert page.status_code == 200, path
                assert checks[path] in page.text, path
        served = Counter()
        for path in checks:
            served += _wait_for_log(access, path, 6)
        assert set(served) - {ban_pid}, f"no other worker served the pages: {served}"


def test_it_serves_under_a_sub_path(tmp_path, f2b):
    """BANGUI_BASE_PATH=/bangui behind a proxy that strips the prefix
    (docs/deployment/nginx.conf): links, static files, redirects, HTMX URLs."""
    with gunicorn(tmp_path, f2b, workers=1,
                  extra_env={"BANGUI_BASE_PATH": "/bangui"}) as (base, _access):
        anonymous = requests.get(f"{base}/", allow_redirects=False, timeout=30)
        assert anonymous.headers["Location"] == "/bangui/login/?next=/bangui/"
        session = _login(base)
        html = session.get(f"{base}/", timeout=30).text
        urls = re.findall(r'\b(?:href|src|action|hx-get|hx-post)="(/[^"]*)"', html)
        assert urls and all(u.startswith("/bangui/") for u in urls), urls
        css = next(u for u in urls if u.startswith("/bangui/static/") and u.endswith(".css"))
        # The proxy strips /bangui: gunicorn sees /static/..., whitenoise serves it.
        static = requests.get(f"{base}{css.removeprefix('/bangui')}", timeout=30)
        assert static.status_code == 200
        assert "text/css" in static.headers["Content-Type"]
