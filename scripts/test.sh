#!/usr/bin/env bash
# Set up (idempotent), lint, and run the whole test suite against a real,
# sandboxed fail2ban-server and a real Chromium. Arguments go to pytest:
#
#   scripts/test.sh                         # everything (what CI runs)
#   scripts/test.sh -m "not browser" -x     # skip the Playwright tests, stop at the first failure
#   scripts/test.sh jails/tests/test_status_bar.py
#
# Exits non-zero when setup, ruff or pytest fails (pytest runs even when ruff
# complains, so one run shows both).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

echo "==> ruff check ."
ruff_status=0
.venv/bin/ruff check . || ruff_status=$?

echo "==> pytest $*"
pytest_status=0
.venv/bin/pytest "$@" || pytest_status=$?

if [ "$ruff_status" -ne 0 ]; then
    echo "test.sh: ruff found problems (exit $ruff_status)" >&2
fi
if [ "$pytest_status" -ne 0 ]; then
    echo "test.sh: pytest failed (exit $pytest_status)" >&2
    exit "$pytest_status"
fi
exit "$ruff_status"
