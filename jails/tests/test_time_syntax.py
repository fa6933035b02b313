"""The jail settings form takes fail2ban's own time syntax (issue #27), the
values fail2ban itself reads (MyTime.str2seconds), and refuses what it would
not read."""

import json
import shutil
import subprocess

import pytest

from jails.forms.jails import JailSettingsForm

ACCEPTED = ["600", "10m", "1h 30m", "1d12h", "1hour+30min", "-1", "1year-6mo", "2 weeks",
            "1.5h", "1h30", "0", "6 months", "1d 12h 30m 10s"]
REFUSED = ["010m", "1x", "abc", "1h;", "__import__('os')", "1h 30q", "h", "1 h h", "--1",
           "1e9", "1**9", "(1)"]


def _clean(value: str):
    form = JailSettingsForm({"bantime": value}, filters=[])
    return form.is_valid(), form.cleaned_data.get("bantime"), form.errors.get("bantime")


@pytest.mark.parametrize("value", ACCEPTED)
def test_it_accepts_fail2bans_time_syntax(value):
    ok, cleaned, _ = _clean(value)
    assert ok and cleaned == value


@pytest.mark.parametrize("value", REFUSED)
def test_it_refuses_what_is_not_a_time(value):
    ok, _, errors = _clean(value)
    assert not ok and "fail2ban's time syntax" in errors[0]


def test_it_collapses_spaces():
    assert _clean("  1h   30m ")[1] == "1h 30m"


def test_fail2ban_reads_every_accepted_value_as_we_mean_it():
    """The values go to fail2ban as typed: ask its own parser (the system's
    fail2ban package, as the sandbox server runs it)."""
    python = shutil.which("python3", path="/usr/bin")
    probe = "import fail2ban.server.mytime"
    if not python or subprocess.run([python, "-c", probe], capture_output=True).returncode:
        pytest.skip("fail2ban's Python package is not installed here")
    script = ("import json, sys\nfrom fail2ban.server.mytime import MyTime\n"
              "print(json.dumps([MyTime.str2seconds(v) for v in json.load(sys.stdin)]))")
    out = subprocess.run([python, "-c", script], input=json.dumps(ACCEPTED), text=True,
                         capture_output=True, check=True).stdout
    seconds = dict(zip(ACCEPTED, json.loads(out), strict=True))
    assert seconds["1h 30m"] == seconds["1hour+30min"] == 5400
    assert seconds["1d12h"] == 36 * 3600
    assert seconds["-1"] == -1
    assert seconds["1h30"] == 3630
    assert seconds["1d 12h 30m 10s"] == 36 * 3600 + 30 * 60 + 10
