"""The fail2ban releases BanGUI is tested with, and the warning for others.

An unknown or newer fail2ban is never refused: BanGUI uses long-standing
commands only, so it works with it as far as it can and says, in the
status bar and in ``/health/ready`` (signed-in users only), that this
release was not tested. docs/development.md, "The fail2ban version matrix".
"""

from __future__ import annotations

# Debian 12's 1.0.2 (the suite's system fail2ban) and the releases of
# scripts/test.sh's matrix; jails/tests/test_fail2ban_versions.py checks
# that the matrix and setup.sh's pins stay within this list.
TESTED_VERSIONS = ("1.0.2", "1.1.0", "1.1.1")


def untested_warning(version: str) -> str | None:
    """The warning for a fail2ban release BanGUI was not tested with (None
    for a tested one). ``version`` is what fail2ban's ``version`` command
    answered, cut short: it is shown to people, never trusted."""
    version = version.strip()[:40]
    if version in TESTED_VERSIONS:
        return None
    return (f"fail2ban {version or '(no version given)'}: not a version BanGUI was tested "
            f"with ({TESTED_VERSIONS[0]}\u2013{TESTED_VERSIONS[-1]}); report problems")
