import ast
import json
import os
import re
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


# --- which variables the settings read --------------------------------------------
# The names BanGUI reads without the BANGUI_ prefix, on purpose (docs/config.md,
# "BanGUI's environment").
STANDARD = {"DATABASE_URL"}

# Imports the settings with os.environ replaced by a dict that notes every name
# the project's own code looks up (the bangui.env helpers bind os.environ as
# their default when imported, so it is replaced first); libraries' lookups
# (zoneinfo's PYTHONTZPATH, say) are not BanGUI's knobs.
RECORD = r"""
import json, os, sys
root = os.getcwd() + os.sep
read = set()

class Recording(dict):
    def _note(self, key):
        caller = sys._getframe(2).f_code.co_filename
        if caller.startswith(root) and "site-packages" not in caller:
            read.add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._note(key)
        return super().get(key, default)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

os.environ = Recording(os.environ)
import bangui.settings  # noqa: E402
print(json.dumps(sorted(read)))
"""


@pytest.fixture(scope="module")
def settings_read(tmp_path_factory) -> set[str]:
    """Every environment variable importing bangui/settings.py looks up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANGUI_", *STANDARD))}
    env.update(BANGUI_DATA_DIR=str(tmp_path_factory.mktemp("env") / "data"),
               PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", RECORD], cwd=BASE, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def env_example_names() -> set[str]:
    """The variables .env.example lists (set or commented out)."""
    text = (BASE / ".env.example").read_text()
    return set(re.findall(r"(?m)^#?[ \t]*([A-Z][A-Z0-9_]*)=", text))


def test_env_example_lists_exactly_the_variables_the_settings_read(settings_read):
    listed = env_example_names()
    assert sorted(settings_read - listed) == [], "read by the settings, missing in .env.example"
    assert sorted(listed - settings_read) == [], (
        "in .env.example, not read by the settings (document it in docs/config.md instead)")


def test_every_variable_the_settings_read_is_a_bangui_one(settings_read):
    assert {name for name in settings_read if not name.startswith("BANGUI_")} == STANDARD


def test_the_settings_read_every_variable_on_every_start(settings_read):
    """No read hides behind a condition (BANGUI_SSL_REDIRECT only with
    BANGUI_SECURE, say): a bad value stops every start, whatever else is set,
    and the recording above sees every name."""
    tree = ast.parse((BASE / "bangui" / "settings.py").read_text())
    named = {
        call.args[0].value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        and call.func.id.startswith("env_")
        and call.args and isinstance(call.args[0], ast.Constant)
    }
    assert len(named) > 50
    assert sorted(named - settings_read) == []


def test_a_bad_value_of_a_switched_off_feature_still_stops_the_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANGUI_", *STANDARD))}
    env.update(BANGUI_DATA_DIR=str(tmp_path / "data"), BANGUI_SSL_REDIRECT="maybe")
    done = subprocess.run([sys.executable, "-c", "import bangui.settings"], cwd=BASE, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "BANGUI_SSL_REDIRECT='maybe' is not a boolean" in done.stderr
