"""The arrows between the apps, and between the rooms of ``jails``, run one
way (docs/architecture.md, "Imports run one way"): the contracts are in
pyproject.toml (``[tool.importlinter]``) and import-linter checks them.

    bangui (core)  <-  nodes  <-  accounts  <-  jails  <-  blocklists
    bangui (core)  <-  geo                  <-  jails
    jails: fail2ban < live : config : archive < fleet < forms < views

and only ``jails.fail2ban`` (the one door) imports ``sqlite3`` or ``socket``
among the rooms that talk to fail2ban (``blocklists`` resolves hosts with
``socket``, never ``sqlite3``). Tests are left out of the app
contracts: they exercise the whole product.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_import_contracts_are_kept():
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
