"""Helpers for tests that run ``manage.py`` as real processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MANAGE = [sys.executable, str(ROOT / "manage.py")]
LEASE_SECONDS = 3


class Project:
    """One BanGUI installation (data dir and database) driven through manage.py."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("BANGUI_", "DATABASE_URL", "DJANGO_SETTINGS"))}
        self.env.update(BANGUI_DATA_DIR=str(data_dir),
                        BANGUI_WORKER_LEASE_SECONDS=str(LEASE_SECONDS),
                        PYTHONUNBUFFERED="1")
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.procs: list[subprocess.Popen] = []

    def run(self, *args: str, timeout: float = 60, env: dict | None = None):
        return subprocess.run([*MANAGE, *args], cwd=ROOT, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str, log: str, env: dict | None = None
              ) -> tuple[subprocess.Popen, Path]:
        path = self.data_dir / log
        with path.open("w") as fh:
            proc = subprocess.Popen([*MANAGE, *args], cwd=ROOT, env={**self.env, **(env or {})},
                                    stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc, path

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def wait_for_text(path: Path, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text()
        if text in content:
            return content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path.name}:\n{path.read_text()}")


def _postgres_url() -> str:
    return os.environ.get("BANGUI_TEST_POSTGRES_URL",
                          "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgres"])
def project(request, tmp_path):
    """A migrated installation on a file SQLite database, then on a fresh
    PostgreSQL database (skipped when no server answers)."""
    url = None
    dbname = None
    if request.param == "postgres":
        psycopg = pytest.importorskip("psycopg")
        base = _postgres_url()
        dbname = f"bangui_proc_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{dbname}"')
        except psycopg.OperationalError as exc:
            pytest.skip(f"PostgreSQL unavailable: {exc}")
        url = base.rsplit("/", 1)[0] + "/" + dbname
    proj = Project(tmp_path, url)
    done = proj.run("migrate", "--noinput", "-v0", timeout=180)
    assert done.returncode == 0, done.stderr
    yield proj
    proj.close()
    if dbname:
        with psycopg.connect(_postgres_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
