"""One log line per request, with its id; JSON lines; no secrets."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from bangui.logging import ContextFilter, JsonFormatter, task_finished, task_started
from bangui.tests.conftest import ROOT


@pytest.fixture
def log_output():
    """Everything logged during the test, formatted as the console handler
    formats it (plain); ``.json()`` switches to the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(logging.Formatter(
        django_settings.LOGGING["formatters"]["plain"]["format"]))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)

    class Output:
        def text(self) -> str:
            return stream.getvalue()

        def json(self) -> None:
            handler.setFormatter(JsonFormatter())

        def request_lines(self) -> list[str]:
            return [line for line in self.text().splitlines() if "bangui.request" in line]

    yield Output()
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.django_db
def test_it_logs_one_line_per_request_with_the_given_id(client, log_output):
    response = client.get("/health/live?token=not-for-logs", HTTP_X_REQUEST_ID="req-123.abc")
    assert response["X-Request-ID"] == "req-123.abc"
    lines = log_output.request_lines()
    assert len(lines) == 1
    assert "[req-123.abc -]" in lines[0]
    assert "GET /health/live 200" in lines[0]
    assert "not-for-logs" not in log_output.text()


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["has space", "x" * 200, "new\nline", ""])
def test_it_generates_an_id_when_the_header_is_unusable(client, log_output, bad):
    response = client.get("/health/live", HTTP_X_REQUEST_ID=bad)
    generated = response["X-Request-ID"]
    assert len(generated) == 32 and generated != bad
    assert f"[{generated} -]" in log_output.request_lines()[0]


def test_it_writes_json_lines(admin_client, admin_user, log_output):
    log_output.json()
    admin_client.get("/health/live", HTTP_X_REQUEST_ID="json-1")
    records = [json.loads(line) for line in log_output.text().splitlines()]
    request = [r for r in records if r["logger"] == "bangui.request"]
    assert len(request) == 1
    assert request[0]["request_id"] == "json-1"
    assert request[0]["method"] == "GET"
    assert request[0]["path"] == "/health/live"
    assert request[0]["status"] == 200
    assert isinstance(request[0]["duration_ms"], float)


@pytest.mark.django_db
def test_it_keeps_query_strings_out_of_json_lines(client, log_output):
    log_output.json()
    client.get("/no-such-page?token=not-for-logs")  # Django logs "Not Found" with the request
    text = log_output.text()
    assert "Not Found" in text
    assert "not-for-logs" not in text


def test_it_logs_the_user_but_no_session_or_cookie(admin_client, admin_user, log_output):
    admin_client.get("/", HTTP_AUTHORIZATION="Bearer top-secret-token")
    session_key = admin_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    text = log_output.text()
    assert f"user={admin_user.pk}" in log_output.request_lines()[0]
    assert session_key not in text
    assert "top-secret-token" not in text
    assert "Cookie" not in text and "sessionid" not in text


def test_it_tags_task_log_lines(log_output):
    task_started("django_q", task={"id": "abc123", "name": "archive-sync"})
    try:
        logging.getLogger("jails.tasks").info("synced")
    finally:
        task_finished("django_q")
    logging.getLogger("jails.tasks").info("after")
    lines = log_output.text().splitlines()
    assert "[- abc123:archive-sync]: synced" in lines[0]
    assert "[- -]: after" in lines[1]


def test_it_switches_to_json_with_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANGUI_", "DATABASE_URL"))}
    env.update(BANGUI_DATA_DIR=str(tmp_path), BANGUI_LOG_JSON="1",
               DJANGO_SETTINGS_MODULE="bangui.settings")
    code = "import django, logging; django.setup(); logging.getLogger('x').warning('hello %s', 1)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    record = json.loads(done.stderr.strip().splitlines()[-1])
    assert record["message"] == "hello 1"
    assert record["level"] == "WARNING"
