"""One log line per request under gunicorn as shipped: BanGUI's own
(bangui.request), no second one from gunicorn's access log.

gunicorn writes access lines only when it is given an access log file (or a
logging config, or syslog): its ``Logger.access`` returns at once otherwise.
The test takes the command lines the shipped configurations run, the systemd
unit's ExecStart and the container entrypoint's ``exec gunicorn`` (the
entrypoint itself is run, with a stand-in ``gunicorn`` first on PATH that
records its arguments), starts a real gunicorn with them on a free loopback
port (one worker instead of the unit's five: 2 cores), makes one request and
counts the lines that name it in everything gunicorn wrote to stdout and
stderr, as the journal or ``docker logs`` would collect them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from bangui.tests.conftest import ROOT

GUNICORN = Path(sys.executable).with_name("gunicorn")
UNIT = ROOT / "docs" / "deployment" / "bangui-web.service"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
SHIPPED = [UNIT, ENTRYPOINT, ROOT / "docs" / "deployment" / "compose.yml",
           ROOT / "Dockerfile", ROOT / "scripts" / "demo.sh"]
ACCESS_OPTIONS = ("--access-logfile", "--access-logformat", "--log-config", "--log-syslog",
                  "GUNICORN_CMD_ARGS", "accesslog")

pytestmark = pytest.mark.slow


def _unit_args() -> list[str]:
    """The unit's ExecStart, continuation lines joined, without the binary."""
    text = UNIT.read_text().replace("\\\n", " ")
    line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[0].endswith("/gunicorn"), argv
    return argv[1:]


def _entrypoint_args(tmp_path: Path) -> list[str]:
    """What docker/entrypoint.sh `web` hands to gunicorn."""
    stub = tmp_path / "stub"
    stub.mkdir()
    record = tmp_path / "gunicorn-args.json"
    (stub / "gunicorn").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    (stub / "gunicorn").chmod(0o755)
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "web"], capture_output=True, text=True, timeout=60,
        env={"PATH": f"{stub}:/usr/bin:/bin", "BANGUI_MIGRATE": "0",
             "BANGUI_WEB_WORKERS": "1"})
    assert done.returncode == 0, done.stderr
    return json.loads(record.read_text())


def _replace(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    i = out.index(option)
    out[i + 1] = value
    return out


def _serve_one_request(tmp_path: Path, args: list[str], env: dict) -> tuple[str, str]:
    """Start gunicorn with ``args``, make one request, stop it (SIGTERM, as
    systemd and docker do). Returns (the request id, everything it wrote)."""
    output = tmp_path / "gunicorn.out"
    with output.open("w") as fh:
        proc = subprocess.Popen([str(GUNICORN), *args], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)",
                                      output.read_text())):
            assert proc.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        request_id = f"one-{uuid.uuid4().hex}"
        response = requests.get(f"{found.group(1)}/health/live?token=query-secret", timeout=60,
                                headers={"X-Request-ID": request_id})
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == request_id
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return request_id, output.read_text()


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BANGUI_", "DATABASE_URL", "DJANGO_SETTINGS", "GUNICORN"))}
    return {**env, "BANGUI_DATA_DIR": str(tmp_path / "data"), "BANGUI_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1", **extra}


def test_no_shipped_configuration_turns_gunicorns_access_log_on():
    for path in SHIPPED:
        code = [x for x in path.read_text().splitlines() if not x.lstrip().startswith("#")]
        assert not [o for o in ACCESS_OPTIONS for x in code if o in x], path
    # gunicorn reads ./gunicorn.conf.py from its working directory by default.
    assert not (ROOT / "gunicorn.conf.py").exists()


@pytest.mark.parametrize("config", ["systemd", "docker"])
def test_one_request_is_one_log_line(tmp_path, config):
    if config == "systemd":
        args = _unit_args()
    else:
        args = _replace(_entrypoint_args(tmp_path), "--chdir", str(ROOT))
    args = _replace(_replace(args, "--bind", "127.0.0.1:0"), "--workers", "1")

    request_id, output = _serve_one_request(tmp_path, args, _env(tmp_path))

    lines = [x for x in output.splitlines() if "/health/live" in x]
    assert len(lines) == 1, output
    assert re.search(rf"INFO bangui\.request \[{request_id} -\]: GET /health/live 200 ", lines[0])
    assert "query-secret" not in output  # gunicorn's access format would log the query
    assert "Worker exiting" in output  # gunicorn's own messages are still there


def test_json_logging_gives_one_json_line_per_request(tmp_path):
    """BANGUI_LOG_JSON=1: the request's one line is JSON, and so is what
    gunicorn logs from inside the worker (here: its exit); only the master's
    own start and stop lines keep gunicorn's format."""
    args = _replace(_replace(_unit_args(), "--bind", "127.0.0.1:0"), "--workers", "1")

    request_id, output = _serve_one_request(tmp_path, args,
                                            _env(tmp_path, BANGUI_LOG_JSON="1"))

    lines = [x for x in output.splitlines() if request_id in x or "/health/live" in x]
    assert len(lines) == 1, output
    record = json.loads(lines[0])
    assert (record["logger"], record["request_id"], record["path"], record["status"]) == (
        "bangui.request", request_id, "/health/live", 200)
    exiting = [json.loads(x) for x in output.splitlines()
               if "Worker exiting" in x and x.startswith("{")]
    assert exiting and exiting[0]["logger"] == "gunicorn.error", output
