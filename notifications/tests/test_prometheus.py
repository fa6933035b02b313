"""contrib/prometheus/bangui-alerts.yml: valid rules (``promtool check
rules``) whose alerts fire on the series of bangui-alerts.test.yml (``promtool
test rules``), and only on metrics BanGUI exports.

promtool is Debian's (``scripts/setup.sh --proxy-tools`` unpacks the
prometheus package into .venv/proxy-tools, as it does nginx and caddy), or
one on the PATH. Without it the tests skip, except under CI, where a missing
promtool is a failure: the rules would go unchecked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "bangui-alerts.yml"
UNIT_TESTS = ROOT / "contrib" / "prometheus" / "bangui-alerts.test.yml"
UNPACKED = ROOT / ".venv" / "proxy-tools" / "prometheus" / "usr" / "bin" / "promtool"
# The families the code exports (jails/health.py, nodes/health.py, bangui/health.py).
SOURCES = ("jails/health.py", "nodes/health.py", "bangui/health.py", "geo/health.py")


@pytest.fixture(scope="module")
def promtool() -> str:
    found = str(UNPACKED) if os.access(UNPACKED, os.X_OK) else shutil.which("promtool")
    if found:
        return found
    message = ("promtool is missing: scripts/setup.sh --proxy-tools unpacks Debian's "
               "prometheus package into .venv/proxy-tools")
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: the alert rules must be checked)")
    pytest.skip(message)


def _promtool(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)


def test_it_checks_the_rules(promtool):
    result = _promtool(promtool, "check", "rules", str(RULES), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_the_alerts_fire_on_their_series(promtool):
    result = _promtool(promtool, "test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    fired = {test["alertname"] for group in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
             for test in group["alert_rule_test"] if test["exp_alerts"]}
    assert {"Fail2banDown", "BanGUINodeDown", "BanGUIBanSpike",
            "BanGUIArchiveSyncLagging", "BanGUIWorkerMissing"} <= fired


def test_the_unit_tests_catch_an_alert_that_does_not_fire(promtool, tmp_path):
    # The same rules with fail2ban's alert pointed at a healthy value: the
    # unit test that expects it must fail, so a passing run means something.
    broken = RULES.read_text().replace("expr: f2b_up == 0", "expr: f2b_up == 2", 1)
    assert broken != RULES.read_text()
    (tmp_path / RULES.name).write_text(broken)
    (tmp_path / UNIT_TESTS.name).write_text(UNIT_TESTS.read_text())
    result = _promtool(promtool, "test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "Fail2banDown" in result.stdout + result.stderr


def test_every_metric_the_rules_use_is_exported():
    exported = set()
    for source in SOURCES:
        exported |= set(re.findall(r'"((?:f2b|bangui)_[a-z_]+)"', (ROOT / source).read_text()))
    used = set()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            used |= set(re.findall(r"\b((?:f2b|bangui)_[a-z_]+)\b", rule["expr"]))
    assert used and used <= exported, used - exported
