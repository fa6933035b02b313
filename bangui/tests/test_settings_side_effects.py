"""Importing bangui/settings.py writes nothing; the first start of a fresh
installation makes its data dir and secret key (bangui/apps.py), and the
checks say when it could not (bangui/checks.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bangui.apps import secret_key

BASE = Path(__file__).resolve().parents[2]

# Imports the settings under an audit hook that notes every write to the
# file system: a file opened for writing, a directory made, modes changed,
# files renamed, linked or removed. (Run with PYTHONDONTWRITEBYTECODE: the
# interpreter's own .pyc files are not the settings' doing.)
AUDIT = r"""
import json, os, sys
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
EVENTS = ("os.mkdir", "os.chmod", "os.chown", "os.rename", "os.remove", "os.rmdir", "os.link",
          "os.symlink", "os.truncate", "os.utime", "shutil.")
writes = []

def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and set(mode) & set("wax+")) or (
                isinstance(flags, int) and flags & WRITE):
            writes.append([event, str(path)])
    elif event.startswith(EVENTS):
        writes.append([event, str(args[0])])

sys.addaudithook(hook)
import bangui.settings  # noqa: E402
print(json.dumps(writes))
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BANGUI_", "DATABASE_URL", "DJANGO_SETTINGS"))}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def audited_import(env: dict[str, str]) -> list:
    done = subprocess.run([sys.executable, "-c", AUDIT], cwd=BASE, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def start(env: dict[str, str], code: str) -> str:
    """django.setup() in a fresh process (what every manage.py command and
    gunicorn worker does), then ``code``; its last line of output."""
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code], cwd=BASE,
        env={**env, "DJANGO_SETTINGS_MODULE": "bangui.settings"}, capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def test_importing_the_settings_of_a_fresh_installation_writes_nothing(tmp_path):
    data = tmp_path / "fresh" / "data"
    env = clean_env(BANGUI_DATA_DIR=str(data), HOME=str(tmp_path / "home"))
    assert audited_import(env) == []
    assert list(tmp_path.iterdir()) == []  # no data dir, static root, key or auth log


def test_importing_the_settings_writes_nothing_with_every_path_set(tmp_path):
    env = clean_env(
        BANGUI_DATA_DIR=str(tmp_path / "data"),
        BANGUI_STATIC_ROOT=str(tmp_path / "static"),
        BANGUI_AUTH_LOG=str(tmp_path / "log" / "auth.log"),
        BANGUI_GEOIP_DOWNLOAD_DIR=str(tmp_path / "geoip"),
        HOME=str(tmp_path / "home"),
    )
    assert audited_import(env) == []
    assert list(tmp_path.iterdir()) == []


def test_importing_the_settings_with_the_default_data_dir_writes_nothing(tmp_path):
    # A source checkout's var/, made or not yet: the import leaves it alone.
    assert audited_import(clean_env(HOME=str(tmp_path / "home"))) == []


def test_the_first_start_makes_the_data_dir_and_a_private_key(tmp_path):
    data = tmp_path / "data"
    env = clean_env(BANGUI_DATA_DIR=str(data))
    sign = ("from django.conf import settings; from django_q.signing import SignedPackage\n"
            "print(settings.SECRET_KEY + ' ' + SignedPackage.dumps({'task': 1}))")
    key, signed = start(env, sign).split(" ")
    assert (data / "static").is_dir()
    path = data / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == key
    assert len(key) >= 50
    assert sorted(p.name for p in data.iterdir()) == ["secret_key", "static"]  # no temp file
    # The next start reads the same key at import: a task the first process
    # signed (before its settings had a key) is good in the next one.
    check = (f"from django.conf import settings; from django_q.signing import SignedPackage\n"
             f"print(settings.SECRET_KEY == {key!r}, SignedPackage.loads({signed!r}))")
    assert start(env, check) == "True {'task': 1}"


def test_processes_starting_together_on_a_fresh_installation_share_one_key(tmp_path):
    env = clean_env(BANGUI_DATA_DIR=str(tmp_path / "data"))
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    with ThreadPoolExecutor(4) as pool:
        keys = set(pool.map(lambda _: start(env, code), range(4)))
    assert keys == {(tmp_path / "data" / "secret_key").read_text()}


def test_with_a_secret_key_in_the_environment_no_key_file_is_made(tmp_path):
    key = "k" * 60
    env = clean_env(BANGUI_DATA_DIR=str(tmp_path / "data"), BANGUI_SECRET_KEY=key)
    assert start(env, "from django.conf import settings; print(settings.SECRET_KEY)") == key
    assert not (tmp_path / "data" / "secret_key").exists()


def test_the_checks_say_what_could_not_be_made(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = clean_env(BANGUI_DATA_DIR=str(blocker / "data"))
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"(bangui.E003) The data directory {blocker / 'data'} does not exist" in done.stderr
    assert "(bangui.E004) There is no secret key: BANGUI_SECRET_KEY is not set" in done.stderr
    assert "HINT: Set BANGUI_SECRET_KEY to 50 or more random characters" in done.stderr


def test_secret_key_makes_the_file_once(tmp_path):
    path = tmp_path / "secret_key"
    first = secret_key(path)
    assert secret_key(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
