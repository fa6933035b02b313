"""The soak bench in its --ci form (issue #24 "Nothing lost, nothing locked"):
``bench/soak.py --ci --db <database>`` as a real process, about three
minutes per database (gunicorn, the worker, a sandboxed fail2ban, faults on
a timetable), exit code 0 when every check passed.

Opt-in: ``-m soak`` selects it (``scripts/test.sh -m soak``,
``.venv/bin/pytest -m soak -s bangui/tests/test_soak.py``); the default run
skips it, being minutes long. PostgreSQL comes from $BANGUI_TEST_POSTGRES_URL
as for the ``project`` fixture (skipped when no server answers).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from bangui.tests.conftest import ROOT, _postgres_url

pytestmark = pytest.mark.soak


@pytest.fixture(params=["sqlite", "postgres"])
def database(request) -> tuple[str, list[str]]:
    if "soak" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("minutes long: select it with -m soak")
    if request.param == "sqlite":
        return "sqlite", []
    psycopg = pytest.importorskip("psycopg")
    url = _postgres_url()
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    return "postgres", ["--postgres-url", url]


def test_soak_ci_passes_every_check(database, tmp_path):
    db, extra = database
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--ci", "--db", db,
         "--run-dir", str(tmp_path / "soak"), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=15 * 60)
    report = done.stdout[done.stdout.find("== soak"):] if "== soak" in done.stdout \
        else done.stdout[-6000:]
    print(report)
    if done.returncode:
        print(done.stderr[-4000:])
    assert done.returncode == 0, f"soak --ci --db {db} failed; logs in {tmp_path / 'soak'}"
