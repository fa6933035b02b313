"""The shipped systemd units pass systemd's own check (docs/deployment)."""

import shutil
import subprocess

import pytest

from bangui.tests.conftest import ROOT

UNITS = sorted((ROOT / "docs" / "deployment").glob("*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_accepts_the_unit(unit):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    # The installed program is not on a test machine; anything else is a finding.
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if line.strip() and "is not executable" not in line]
    assert complaints == []


def test_the_node_unit_runs_a_worker_with_its_own_environment():
    text = (ROOT / "docs" / "deployment" / "bangui-node.service").read_text()
    assert "ExecStart=/opt/bangui/bin/bangui qcluster" in text
    assert "EnvironmentFile=/etc/bangui/node.env" in text
    assert "BANGUI_NODE=" in text and "sslmode=verify-full" in text
