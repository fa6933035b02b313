#!/usr/bin/env bash
# Set up (idempotent), lint, and run the whole test suite against a real,
# sandboxed fail2ban-server and a real Chromium, once on SQLite and once on
# PostgreSQL. Arguments go to pytest (on every database):
#
#   scripts/test.sh                         # everything, both databases (what CI runs)
#   scripts/test.sh -m "not browser" -x     # skip the Playwright tests, stop at the first failure
#   scripts/test.sh jails/tests/test_status_bar.py
#   BANGUI_TEST_DATABASES=sqlite scripts/test.sh      # SQLite only (no PostgreSQL needed)
#   BANGUI_TEST_DATABASES=postgres scripts/test.sh    # PostgreSQL only
#
# PostgreSQL: $BANGUI_TEST_POSTGRES_URL when set, else the server on
# 127.0.0.1:5432 (scripts/setup.sh --postgres installs and starts Debian's
# postgresql when none answers). pytest-django creates and drops test_<name>.
# The browser tests (marker "browser") run on SQLite only: they check pages
# and JavaScript, not SQL, and would add minutes for nothing. An explicit -m
# of yours wins on both databases.
#
# Exits non-zero when setup, ruff or pytest (on any database) fails; every
# step runs even when an earlier one failed, so one run shows everything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATABASES="${BANGUI_TEST_DATABASES:-sqlite postgres}"
want_postgres=0
for db in $DATABASES; do
    case "$db" in
        sqlite) ;;
        postgres) want_postgres=1 ;;
        *) echo "test.sh: BANGUI_TEST_DATABASES: unknown database '$db' (sqlite, postgres)" >&2; exit 2 ;;
    esac
done

# The suite picks its database from DATABASE_URL: keep a developer's own out
# of the SQLite run (and out of setup's migrate of the development database).
unset DATABASE_URL

# --proxy-tools: Debian's nginx and caddy binaries (unpacked into .venv, not
# installed) for bangui/tests/test_proxy_configs.py.
setup_args=(--proxy-tools)
[ "$want_postgres" = 1 ] && setup_args+=(--postgres)
bash scripts/setup.sh "${setup_args[@]}"

echo "==> ruff check ."
ruff_status=0
.venv/bin/ruff check . || ruff_status=$?

failed=()
for db in $DATABASES; do
    status=0
    if [ "$db" = sqlite ]; then
        echo "==> pytest on SQLite: $*"
        .venv/bin/pytest "$@" || status=$?
    else
        url="$(cat .venv/.bangui-test-postgres-url)"
        echo "==> pytest on PostgreSQL (…@${url#*@}, browser tests skipped): $*"
        DATABASE_URL="$url" .venv/bin/pytest -m "not browser" "$@" || status=$?
    fi
    # 5: no tests collected (e.g. -m browser on PostgreSQL): not a failure.
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        failed+=("$db (exit $status)")
    fi
done

if [ "$ruff_status" -ne 0 ]; then
    echo "test.sh: ruff found problems (exit $ruff_status)" >&2
fi
if [ "${#failed[@]}" -gt 0 ]; then
    echo "test.sh: pytest failed on: ${failed[*]}" >&2
    exit 1
fi
[ "$ruff_status" -eq 0 ] && echo "test.sh: all passed on: $DATABASES"
exit "$ruff_status"
