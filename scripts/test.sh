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
#   BANGUI_TEST_FAIL2BAN_VERSIONS= scripts/test.sh    # without the fail2ban matrix
#   BANGUI_TEST_FAIL2BAN_VERSIONS=1.1.1 scripts/test.sh  # the matrix with 1.1.1 only
#   BANGUI_TEST_SOAK=0 scripts/test.sh                # without the short soak
#   BANGUI_TEST_WORKERS=1 scripts/test.sh -s -x ...   # one process (pdb, -s, print)
#
# PostgreSQL: $BANGUI_TEST_POSTGRES_URL when set, else the server on
# 127.0.0.1:5432 (scripts/setup.sh --postgres installs and starts Debian's
# postgresql when none answers). pytest-django creates and drops test_<name>.
# The browser tests (marker "browser") run on SQLite only: they check pages
# and JavaScript, not SQL, and would add minutes for nothing. An explicit -m
# of yours wins on both databases.
#
# The fail2ban matrix: the whole suite runs against the system's fail2ban
# (Debian 12: 1.0.2); then the fail2ban-facing tests (marker "fail2ban": the
# client, the sandbox, live state, the archive sync, config transactions, the
# regex tester, the blocklist import, commands on a node) run again, on
# SQLite, against each release in $BANGUI_TEST_FAIL2BAN_VERSIONS (default
# "1.1.0 1.1.1", unpacked into .venv/fail2ban/ by scripts/setup.sh
# --fail2ban-versions; BANGUI_TEST_FAIL2BAN=<version> picks one for pytest).
# Your arguments go to these runs too (a -m of yours narrows
# "fail2ban and not browser"); a run that selects no test is not a failure.
#
# The short soak (bench/soak.py --ci through bangui/tests/test_soak.py, marker
# "soak": ~3 minutes per database of gunicorn, the worker and a sandboxed
# fail2ban under light load and faults, every check asserted) runs last, on
# each database in $BANGUI_TEST_DATABASES, when the whole suite ran (no
# arguments) and BANGUI_TEST_SOAK is not 0.
#
# Processes: each pytest run (not the soak) is spread over
# $BANGUI_TEST_WORKERS processes (default 3, pytest-xdist's -n): most tests
# wait on fail2ban, a worker or a browser, so three share two cores well
# (the suite on SQLite: ~22 minutes in one process, ~10 in three). Each
# process has its own test database (pytest-django adds _gw0, _gw1, ...),
# its own sandboxed fail2ban and its own Chromium.
#
# Exits non-zero when setup, ruff or pytest (on any database or fail2ban) fails; every
# step runs even when an earlier one failed, so one run shows everything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATABASES="${BANGUI_TEST_DATABASES:-sqlite postgres}"
WORKERS="${BANGUI_TEST_WORKERS:-3}"
case "$WORKERS" in
    ''|*[!0-9]*) echo "test.sh: BANGUI_TEST_WORKERS: a number, not '$WORKERS'" >&2; exit 2 ;;
esac
parallel=()
[ "$WORKERS" -gt 1 ] && parallel=(-n "$WORKERS")
FAIL2BAN_VERSIONS="${BANGUI_TEST_FAIL2BAN_VERSIONS-1.1.0 1.1.1}"
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
# --fail2ban-versions: the other fail2ban releases, unpacked into .venv/fail2ban.
[ -n "${FAIL2BAN_VERSIONS// /}" ] && setup_args+=(--fail2ban-versions)
bash scripts/setup.sh "${setup_args[@]}"

echo "==> ruff check ."
ruff_status=0
.venv/bin/ruff check . || ruff_status=$?

failed=()
for db in $DATABASES; do
    status=0
    if [ "$db" = sqlite ]; then
        echo "==> pytest on SQLite: $*"
        .venv/bin/pytest "${parallel[@]}" "$@" || status=$?
    else
        url="$(cat .venv/.bangui-test-postgres-url)"
        echo "==> pytest on PostgreSQL (…@${url#*@}, browser tests skipped): $*"
        DATABASE_URL="$url" .venv/bin/pytest "${parallel[@]}" -m "not browser" "$@" || status=$?
    fi
    # 5: no tests collected (e.g. -m browser on PostgreSQL): not a failure.
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        failed+=("$db (exit $status)")
    fi
done

# The fail2ban-facing part against the other releases, SQLite only (the
# database is not what differs). The whole suite above ran on the system's.
# (BANGUI_TEST_FAIL2BAN is the sandbox's choice: conftest.py, jails/fail2ban/testing.py.)
# A -m of yours narrows this selection (pytest would take only the last -m).
marks="fail2ban and not browser"
matrix_args=()
next_is_mark=0
for arg in "$@"; do
    if [ "$next_is_mark" = 1 ]; then marks="$marks and ($arg)"; next_is_mark=0; continue; fi
    case "$arg" in
        -m) next_is_mark=1 ;;
        -m?*) marks="$marks and (${arg#-m})" ;;
        *) matrix_args+=("$arg") ;;
    esac
done
for version in $FAIL2BAN_VERSIONS; do
    echo "==> pytest on SQLite against fail2ban $version (.venv/fail2ban/$version), -m \"$marks\": ${matrix_args[*]}"
    status=0
    BANGUI_TEST_FAIL2BAN="$version" .venv/bin/pytest "${parallel[@]}" -m "$marks" "${matrix_args[@]}" || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        failed+=("fail2ban $version (exit $status)")
    fi
done

if [ "${BANGUI_TEST_SOAK:-1}" != 0 ] && [ "$#" -eq 0 ]; then
    soak_dbs="${DATABASES// / or }"
    echo "==> the short soak (bench/soak.py --ci) on: $DATABASES"
    status=0
    .venv/bin/pytest -m soak -s -k "$soak_dbs" bangui/tests/test_soak.py || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
        failed+=("soak (exit $status)")
    fi
fi

if [ "$ruff_status" -ne 0 ]; then
    echo "test.sh: ruff found problems (exit $ruff_status)" >&2
fi
if [ "${#failed[@]}" -gt 0 ]; then
    echo "test.sh: pytest failed on: ${failed[*]}" >&2
    exit 1
fi
[ "$ruff_status" -eq 0 ] && echo "test.sh: all passed on: $DATABASES${FAIL2BAN_VERSIONS:+; fail2ban $FAIL2BAN_VERSIONS}"
exit "$ruff_status"
