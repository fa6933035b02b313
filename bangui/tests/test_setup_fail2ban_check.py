"""scripts/setup.sh stops on a fail2ban that is installed but does not run.

Ubuntu 24.04's original fail2ban 1.0.2 imports asynchat, which Python 3.12
removed: ``fail2ban-client --version`` still answers (it does not import the
server), and every server start dies of "No module named 'asynchat'". The
check (``scripts/setup.sh --check-fail2ban``, also run by every setup) imports
fail2ban's server with the interpreter of fail2ban-server's #! line. Here fake
fail2ban commands on PATH stand in for the broken ones; the real fail2ban of
this machine passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"

TRACEBACK = """Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/fail2ban/server/asyncserver.py", line 27, in <module>
    import asynchat
ModuleNotFoundError: No module named 'asynchat'"""


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _check(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        ["bash", str(SETUP), "--check-fail2ban"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_a_client_that_dies_of_asynchat_is_named_with_the_fix(tmp_path):
    _write(
        tmp_path / "fail2ban-client",
        f"#!/bin/sh\ncat >&2 <<'EOF'\n{TRACEBACK}\nEOF\nexit 1\n",
    )
    _write(tmp_path / "fail2ban-server", "#!/bin/sh\nexit 1\n")
    result = _check(tmp_path)
    assert result.returncode == 1, result
    assert "fail2ban is installed but does not run" in result.stderr
    assert "No module named 'asynchat'" in result.stderr
    assert "1.1 or newer" in result.stderr
    assert "Ubuntu 24.04" in result.stderr
    # Only the check ran: no venv, no migrate.
    assert "Migrating" not in result.stdout


def test_a_server_that_cannot_import_asynchat_is_caught_though_version_works(tmp_path):
    # fail2ban-client --version works, as on Ubuntu 24.04; the interpreter of
    # fail2ban-server's #! line cannot import the server.
    python = tmp_path / "python3"
    _write(
        python,
        "#!/bin/sh\n"
        'if [ "$1" = -c ]; then\n'
        f"cat >&2 <<'EOF'\n{TRACEBACK}\nEOF\n"
        "exit 1\nfi\n"
        "echo 'Fail2Ban v1.0.2'\n",
    )
    for name in ("fail2ban-client", "fail2ban-server"):
        _write(tmp_path / name, f"#!{python}\n# fake\n")
    result = _check(tmp_path)
    assert result.returncode == 1, result
    assert "importing fail2ban's server" in result.stderr
    assert str(python) in result.stderr
    assert "ModuleNotFoundError: No module named 'asynchat'" in result.stderr
    assert "1.1 or newer" in result.stderr


def test_another_failure_is_reported_as_it_is(tmp_path):
    _write(
        tmp_path / "fail2ban-client",
        "#!/bin/sh\necho 'ImportError: cannot import name Foo' >&2\nexit 1\n",
    )
    result = _check(tmp_path)
    assert result.returncode == 1, result
    assert "ImportError: cannot import name Foo" in result.stderr
    assert "asynchat" not in result.stderr
    assert "reinstall" in result.stderr.lower()


def test_the_installed_fail2ban_passes(tmp_path):
    if not shutil.which("fail2ban-client"):
        pytest.skip("fail2ban is not installed (scripts/setup.sh installs it)")
    result = _check(tmp_path)  # an empty directory first on PATH: the real one
    assert result.returncode == 0, result
    assert "fail2ban runs: Fail2Ban v" in result.stdout
