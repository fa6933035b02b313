#!/usr/bin/env bash
# Prepare a Debian/Ubuntu machine to run and test BanGUI. Safe to run again:
# every step checks first and only does what is missing.
#
#   scripts/setup.sh              # uses python3
#   PYTHON=python3.12 scripts/setup.sh
#   scripts/setup.sh --postgres   # also a PostgreSQL for the tests (scripts/test.sh does this)
#
# Installs the Debian packages fail2ban, chromium and sqlite3 when missing
# (with sudo when not root), creates .venv, installs BanGUI with its dev
# extras, migrates the database and collects static files.
# BanGUI never touches the system's own fail2ban service: the demo and the
# tests run their own sandboxed fail2ban-server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WANT_POSTGRES=0
for arg in "$@"; do
    case "$arg" in
        --postgres) WANT_POSTGRES=1 ;;
        *) printf 'setup.sh: unknown option %s (only --postgres)\n' "$arg" >&2; exit 2 ;;
    esac
done

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
CHROMIUM="${BANGUI_TEST_CHROMIUM:-/usr/bin/chromium}"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

# --- Debian packages ----------------------------------------------------------
deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
    else
        return 127
    fi
}

missing=()
if ! command -v fail2ban-client >/dev/null 2>&1 || [ ! -d /etc/fail2ban/filter.d ]; then
    missing+=(fail2ban)
fi
if [ ! -x "$CHROMIUM" ]; then
    missing+=(chromium)
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
    missing+=(sqlite3)
fi
# Debian's own python3 has no venv module until python3-venv is installed.
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    [ "$PYTHON" = python3 ] && missing+=(python3 python3-venv)
elif ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 && [ ! -x "$VENV/bin/python" ]; then
    case "$(command -v "$PYTHON")" in
        /usr/bin/*) missing+=(python3-venv) ;;
    esac
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        die "missing: ${missing[*]}. This is not a Debian/Ubuntu system (no apt-get): install them with your package manager and run this again."
    fi
    say "Installing Debian packages: ${missing[*]}"
    if ! as_root true; then
        die "installing ${missing[*]} needs root: run this script as root, or install sudo (passwordless when there is no terminal), or run: apt-get update && apt-get install ${missing[*]}"
    fi
    as_root apt-get update -q || die "apt-get update failed"
    # chromium is only needed by the browser tests, and Ubuntu ships it as a
    # snap only: do not let it block everything else.
    wanted=()
    for pkg in "${missing[@]}"; do
        # (policy captured first: with pipefail, grep -q closing the pipe
        # early makes apt-cache die of SIGPIPE and the test fail.)
        if [ "$pkg" = chromium ] && ! grep -q 'Candidate: [0-9]' <<<"$(apt-cache policy chromium 2>/dev/null)"; then
            printf 'setup.sh: warning: no installable "chromium" package here; the browser tests need a Chromium binary: set BANGUI_TEST_CHROMIUM to its path.\n' >&2
            continue
        fi
        wanted+=("$pkg")
    done
    if [ "${#wanted[@]}" -gt 0 ]; then
        as_root apt-get install -y -q --no-install-recommends "${wanted[@]}" \
            || die "apt-get install ${wanted[*]} failed"
    fi
fi

# --- Python ----------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 \
    || die "$PYTHON not found. BanGUI needs Python 3.11 or newer (Debian 12: apt-get install python3 python3-venv)."
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    die "BanGUI needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1). Install a newer Python and run: PYTHON=python3.11 scripts/setup.sh"
fi

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "Existing .venv is broken or too old; recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "Creating .venv with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV" || die "could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi

# Reinstall only when the dependencies changed since the last install.
stamp="$VENV/.bangui-install"
want="$( (cat pyproject.toml requirements/dev.txt; "$VENV/bin/python" -V) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "Installing BanGUI and its dev dependencies into .venv (log: .venv/pip-install.log)"
    log="$VENV/pip-install.log"
    # The locked versions, each checked against its hash (requirements/dev.txt,
    # docs/operations.md "Upgrading"), then BanGUI itself without resolving again.
    if ! { "$VENV/bin/python" -m pip install --upgrade pip \
           && "$VENV/bin/python" -m pip install --require-hashes -r requirements/dev.txt \
           && "$VENV/bin/python" -m pip install --no-deps -e .; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "pip install failed; the whole log is in $log"
    fi
    echo "$want" > "$stamp"
else
    say "Python dependencies are up to date"
fi

# --- database and static files --------------------------------------------------------
say "Migrating the database"
"$VENV/bin/python" manage.py migrate --noinput -v 0
say "Collecting static files"
"$VENV/bin/python" manage.py collectstatic --noinput -v 0

# --- PostgreSQL for the tests (only with --postgres) ---------------------------------
# scripts/test.sh runs the suite on PostgreSQL too. It needs a server it can
# create databases on; when none answers, install Debian's postgresql, start
# its cluster (no systemd needed: containers and CI machines often have none)
# and give it a password role for TCP logins from 127.0.0.1.
#   1. $BANGUI_TEST_POSTGRES_URL when set (used as is, never provisioned);
#   2. postgres://postgres@127.0.0.1:5432/test (trust auth, as on CI machines);
#   3. postgres://bangui_test:bangui_test@127.0.0.1:5432/test (the role made here).
# The first URL that connects is written to .venv/.bangui-test-postgres-url.
PG_DEFAULT_URL="postgres://postgres@127.0.0.1:5432/test"
PG_ROLE_URL="postgres://bangui_test:bangui_test@127.0.0.1:5432/test"
PG_URL_FILE="$VENV/.bangui-test-postgres-url"

pg_connects() {
    # Connect to the maintenance database: the test database need not exist.
    "$VENV/bin/python" - "$1" >/dev/null 2>&1 <<'PYEOF'
import sys
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
info = conninfo_to_dict(sys.argv[1])
info["dbname"] = "postgres"
psycopg.connect(make_conninfo(**info), connect_timeout=3).close()
PYEOF
}

pg_first_working_url() {
    local url
    for url in "$@"; do
        if pg_connects "$url"; then printf '%s\n' "$url"; return 0; fi
    done
    return 1
}

setup_postgres() {
    rm -f "$PG_URL_FILE"
    if [ -n "${BANGUI_TEST_POSTGRES_URL:-}" ]; then
        pg_connects "$BANGUI_TEST_POSTGRES_URL" \
            || die "BANGUI_TEST_POSTGRES_URL does not connect: ${BANGUI_TEST_POSTGRES_URL%%@*}@…"
        printf '%s\n' "$BANGUI_TEST_POSTGRES_URL" > "$PG_URL_FILE"
        say "PostgreSQL for the tests: BANGUI_TEST_POSTGRES_URL"
        return 0
    fi
    local url
    if url="$(pg_first_working_url "$PG_DEFAULT_URL" "$PG_ROLE_URL")"; then
        printf '%s\n' "$url" > "$PG_URL_FILE"
        say "PostgreSQL for the tests is up (…@${url#*@})"
        return 0
    fi

    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 \
            || die "no PostgreSQL answers on 127.0.0.1:5432 and this is not Debian/Ubuntu: start one and set BANGUI_TEST_POSTGRES_URL (a role that may create databases), or run only SQLite: BANGUI_TEST_DATABASES=sqlite scripts/test.sh"
        as_root true || die "installing postgresql needs root (or passwordless sudo); or set BANGUI_TEST_POSTGRES_URL, or BANGUI_TEST_DATABASES=sqlite"
        say "Installing Debian's postgresql (no PostgreSQL answers on 127.0.0.1:5432)"
        as_root apt-get update -q || die "apt-get update failed"
        as_root apt-get install -y -q --no-install-recommends postgresql \
            || die "apt-get install postgresql failed"
    fi
    as_root true || die "starting PostgreSQL needs root (or passwordless sudo)"
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$version" ] || die "postgresql is installed but has no cluster in /etc/postgresql (pg_createcluster <version> main)"
    if ! as_root pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
        say "Starting PostgreSQL $version (cluster main)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
            || die "pg_ctlcluster $version main start failed; see /var/log/postgresql/postgresql-$version-main.log"
    fi
    # Wait for it to accept connections, then (re)create the password role.
    local i
    for i in $(seq 1 60); do
        as_root runuser -u postgres -- psql -qAtc 'select 1' >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! pg_connects "$PG_DEFAULT_URL"; then
        say "Creating the PostgreSQL role bangui_test (CREATEDB) for the tests"
        as_root runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qc "
            DO \$\$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bangui_test') THEN
                CREATE ROLE bangui_test LOGIN CREATEDB PASSWORD 'bangui_test';
              ELSE
                ALTER ROLE bangui_test LOGIN CREATEDB PASSWORD 'bangui_test';
              END IF;
            END \$\$;" >/dev/null || die "could not create the PostgreSQL role bangui_test"
    fi
    url="$(pg_first_working_url "$PG_DEFAULT_URL" "$PG_ROLE_URL")" \
        || die "PostgreSQL runs but neither $PG_DEFAULT_URL nor the bangui_test role can log in over TCP (check pg_hba.conf for 127.0.0.1)"
    printf '%s\n' "$url" > "$PG_URL_FILE"
    say "PostgreSQL for the tests is up (…@${url#*@})"
}

if [ "$WANT_POSTGRES" = 1 ]; then
    setup_postgres
fi

say "Setup done"
