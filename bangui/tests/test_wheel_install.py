"""The built wheel is a complete BanGUI: installed into a fresh virtualenv
with the locked runtime dependencies only (no dev extras, no source tree on
the path), ``bangui migrate`` and ``bangui check --deploy`` pass with
production settings, and gunicorn started from that venv serves the login
page and its stylesheet (docs/deployment.md, "Install from the wheel")."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local server
        return response.status, response.read(), response.headers.get("Content-Type", "")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the locked runtime requirements and the wheel."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
          "-w", str(dist), str(ROOT)], timeout=300, cwd=base)
    wheel = next(dist.glob("bangui-*.whl"))
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check"]
    _run([*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "base.txt")],
         timeout=600)
    _run([*pip, "--no-deps", str(wheel)], timeout=300)
    return venv


@pytest.fixture
def production_env(installed, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BANGUI_", "DATABASE_URL", "DJANGO_", "PYTHONPATH"))}
    env.update(
        PATH=f"{installed / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        BANGUI_DATA_DIR=str(tmp_path / "data"),
        BANGUI_SECRET_KEY="k" * 30 + "production-settings-for-the-wheel-test",
        BANGUI_ALLOWED_HOSTS="127.0.0.1",
        BANGUI_SECURE="1", BANGUI_BEHIND_PROXY="1", BANGUI_MANIFEST_STATIC="1",
        BANGUI_HSTS_PRELOAD="1",  # else check --deploy warns (W021); opt-in, docs/deployment.md
        BANGUI_STATIC_ROOT=str(tmp_path / "static"),
    )
    return env


def test_the_wheel_carries_everything_and_nothing_of_the_tests(installed):
    site = next((installed / "lib").glob("python3*/site-packages"))
    assert (site / "bangui" / "templates" / "base.html").is_file()
    assert (site / "bangui" / "static" / "css" / "bangui.css").is_file()
    assert (site / "bangui" / "contrib" / "fail2ban" / "filter.d" / "bangui-auth.conf").is_file()
    assert (site / "jails" / "templates" / "jails" / "dashboard.html").is_file()
    assert list((site / "geo" / "data").glob("*.mmdb"))
    apps = ("bangui", "jails", "geo", "accounts")
    assert not [p for app in apps for p in site.glob(f"{app}/tests")]
    dev_only = {"pytest", "playwright", "ruff"}
    assert not [p for p in site.iterdir() if p.name.split("-")[0].lower() in dev_only]


def test_an_installed_bangui_migrates_checks_and_serves(installed, production_env, tmp_path):
    bangui = str(installed / "bin" / "bangui")
    cwd = tmp_path  # not the source tree: only the installed packages count
    _run([bangui, "migrate", "--noinput"], env=production_env, cwd=cwd, timeout=300)
    check = _run([bangui, "check", "--deploy", "--fail-level", "WARNING"],
                 env=production_env, cwd=cwd, timeout=120)
    assert "no issues" in check.stdout
    _run([bangui, "collectstatic", "--noinput"], env=production_env, cwd=cwd, timeout=120)

    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(installed / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "1",
         "bangui.wsgi"], env=production_env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body, _ = _get(f"{base}/login/")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        # No user yet: the setup gate sends /login/ to the wizard, also a 200.
        assert status == 200
        page = body.decode()
        assert "BanGUI" in page
        css = re.search(r'href="(/static/css/bangui\.[0-9a-f]+\.css)"', page)
        assert css, "the page links the hashed stylesheet"
        status, body, content_type = _get(base + css.group(1))
        assert status == 200 and content_type.startswith("text/css")
        assert b"--" in body  # the real stylesheet (custom properties), not an error page
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
