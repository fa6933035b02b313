import os
import subprocess
import sys
from pathlib import Path

import pytest

from bangui.env import ImproperEnv, env_time_zone

BASE = Path(__file__).resolve().parents[2]


def test_a_time_zone_is_an_iana_name_or_empty():
    assert env_time_zone("Z", {"Z": " Europe/Berlin "}) == "Europe/Berlin"
    assert env_time_zone("Z", {"Z": ""}) == ""
    assert env_time_zone("Z", {}) == ""


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../../etc/passwd", "UTC+1"])
def test_a_bad_time_zone_is_refused_by_name(bad):
    with pytest.raises(ImproperEnv, match=r"Z=.* is not a time zone"):
        env_time_zone("Z", {"Z": bad})


def test_a_bad_fail2ban_time_zone_stops_the_start_with_a_message(tmp_path):
    env = {
        **os.environ,
        "BANGUI_FAIL2BAN_TIME_ZONE": "Mars/Olympus",
        "BANGUI_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "bangui.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "BANGUI_FAIL2BAN_TIME_ZONE='Mars/Olympus' is not a time zone" in result.stderr
