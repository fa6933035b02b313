"""The reverse-proxy examples in docs/deployment/ load in the proxies people run.

``scripts/check_proxy_configs.sh`` runs ``nginx -t`` on nginx.conf and ``caddy
validate`` on the Caddyfile (each also with its sub-path variant uncommented),
with Debian's nginx and caddy binaries that ``scripts/setup.sh --proxy-tools``
(run by scripts/test.sh) unpacks into .venv/proxy-tools, or the ones installed
on the machine. Each test skips, saying why, when its proxy is not there.

Debian 12's nginx is 1.22: the ``http2 on;`` directive (nginx 1.25.1) is an
"unknown directive" there, which is what the example once had.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_proxy_configs.sh"
EXAMPLES = ROOT / "docs" / "deployment"
SKIP = 77  # the script's "not installed, nothing checked"


def _check(proxy: str, examples: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if examples is not None:
        env["BANGUI_PROXY_EXAMPLES"] = str(examples)
    result = subprocess.run(
        ["bash", str(SCRIPT), proxy],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    if result.returncode == SKIP:
        pytest.skip(
            f"{proxy} is not installed, so docs/deployment's {proxy} example was not checked "
            f"(scripts/setup.sh --proxy-tools unpacks Debian's {proxy}; scripts/test.sh runs it)"
        )
    return result


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_nginx_example_passes_nginx_t():
    result = _check("nginx")
    assert result.returncode == 0, _output(result)
    # Both variants were really tested: at the root and under /bangui/.
    assert "nginx.conf (site) is fine" in result.stdout
    assert "nginx.conf (site-subpath) is fine" in result.stdout


def test_nginx_example_forwards_what_bangui_trusts():
    text = (EXAMPLES / "nginx.conf").read_text()
    # Replaced, never appended: BANGUI_PROXY_COUNT=1 trusts exactly one entry.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "$proxy_add_x_forwarded_for" not in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "proxy_set_header X-Forwarded-Host $host;" in text
    assert re.search(r"^\s*listen 443 ssl http2;", text, re.MULTILINE)
    assert not re.search(r"^\s*http2 on;", text, re.MULTILINE)


def test_the_check_catches_http2_on_where_nginx_is_older_than_1_25(tmp_path):
    # The example as it once was: "http2 on;" instead of "listen ... http2".
    text = (EXAMPLES / "nginx.conf").read_text()
    broken = text.replace("listen 443 ssl http2;", "listen 443 ssl;\n    http2 on;", 1)
    broken = broken.replace("listen [::]:443 ssl http2;", "listen [::]:443 ssl;", 1)
    assert broken != text
    (tmp_path / "nginx.conf").write_text(broken)
    result = _check("nginx", tmp_path)
    version = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stdout)
    assert version, _output(result)
    if tuple(map(int, version.groups())) >= (1, 25, 1):
        pytest.skip(f"nginx {'.'.join(version.groups())} knows 'http2 on;'")
    assert result.returncode == 1, _output(result)
    assert 'unknown directive "http2"' in result.stderr


def test_caddy_example_passes_caddy_validate():
    result = _check("caddy")
    assert result.returncode == 0, _output(result)
    assert "Caddyfile (Caddyfile) is fine" in result.stdout
    assert "Caddyfile (Caddyfile-subpath) is fine" in result.stdout


def test_the_check_catches_a_broken_caddyfile(tmp_path):
    text = (EXAMPLES / "Caddyfile").read_text()
    shutil.copy(EXAMPLES / "nginx.conf", tmp_path / "nginx.conf")
    (tmp_path / "Caddyfile").write_text(
        text.replace("header -Server", "header -Server\n\tno_such_directive on", 1)
    )
    result = _check("caddy", tmp_path)
    assert result.returncode == 1, _output(result)
    assert "no_such_directive" in result.stderr
