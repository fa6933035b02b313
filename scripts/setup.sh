#!/usr/bin/env bash
# Prepare a Debian/Ubuntu machine to run and test BanGUI. Safe to run again:
# every step checks first and only does what is missing.
#
#   scripts/setup.sh              # uses python3
#   PYTHON=python3.12 scripts/setup.sh
#   scripts/setup.sh --postgres   # also a PostgreSQL for the tests (scripts/test.sh does this)
#   scripts/setup.sh --proxy-tools  # also nginx and caddy for the proxy example checks (scripts/test.sh does this)
#   scripts/setup.sh --fail2ban-versions  # also fail2ban 1.1.0 and 1.1.1 for the test matrix (scripts/test.sh does this)
#   scripts/setup.sh --check-fail2ban  # only check that the installed fail2ban runs
#   scripts/setup.sh --no-browser  # without Chromium and the journal writer (only the tests use them; scripts/demo.sh does this)
#
# Installs the Debian packages fail2ban, chromium and sqlite3 when missing
# (with sudo when not root), and pythonX.Y-venv for $PYTHON; checks that
# fail2ban runs on its Python; creates .venv, installs BanGUI with its dev
# extras, migrates the database and collects static files.
# BanGUI never touches the system's own fail2ban service: the demo and the
# tests run their own sandboxed fail2ban-server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WANT_POSTGRES=0
WANT_PROXY_TOOLS=0
WANT_FAIL2BAN_VERSIONS=0
CHECK_FAIL2BAN_ONLY=0
WANT_TEST_TOOLS=1
for arg in "$@"; do
    case "$arg" in
        --postgres) WANT_POSTGRES=1 ;;
        --proxy-tools) WANT_PROXY_TOOLS=1 ;;
        --fail2ban-versions) WANT_FAIL2BAN_VERSIONS=1 ;;
        --check-fail2ban) CHECK_FAIL2BAN_ONLY=1 ;;
        --no-browser) WANT_TEST_TOOLS=0 ;;
        *) printf 'setup.sh: unknown option %s (--postgres, --proxy-tools, --fail2ban-versions, --check-fail2ban, --no-browser)\n' "$arg" >&2; exit 2 ;;
    esac
done

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
CHROMIUM="${BANGUI_TEST_CHROMIUM:-/usr/bin/chromium}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { printf '==> %s\n' "$*"; }
warn() { printf 'setup.sh: warning: %s\n' "$*" >&2; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

# --- fail2ban that is installed but does not run ------------------------------
# Ubuntu 24.04's original fail2ban 1.0.2 imports asynchat, which left Python's
# standard library in 3.12: every fail2ban-server start dies of "No module
# named 'asynchat'". `fail2ban-client --version` does not import the server
# and still works, so import the server with fail2ban's own interpreter (the
# #! line of fail2ban-server), as the server and fail2ban-regex would.
fail2ban_python() {  # prints fail2ban-server's interpreter command line
    local server="$1" shebang=""
    IFS= read -r shebang < "$server" || true
    case "$shebang" in
        '#!'*) printf '%s\n' "${shebang#\#!}" ;;
        *) printf 'python3\n' ;;
    esac
}

fail2ban_broken() {  # fail2ban_broken WHAT OUTPUT: dies, naming the error and the fix
    local what="$1" output="$2" error
    # The last line of a traceback names the error; else the whole output.
    error="$(printf '%s\n' "$output" | sed '/^[[:space:]]*$/d' | tail -n 1)"
    [ -n "$error" ] || error="(no output)"
    # (a here-string, not a pipe: grep -q would close it early, and with
    # pipefail the writer's SIGPIPE would fail the test.)
    if grep -q "No module named '\{0,1\}\(asynchat\|asyncore\)" <<<"$output"; then
        die "fail2ban is installed but does not run: $what fails with: $error
  fail2ban before 1.1 imports asynchat and asyncore, which Python 3.12 no longer has
  (Ubuntu 24.04's original fail2ban 1.0.2-3 on its Python 3.12). Upgrade fail2ban to
  1.1 or newer, or to your distribution's fixed package (Ubuntu 24.04:
  apt-get update && apt-get install --only-upgrade fail2ban, from noble-updates),
  then run this again."
    fi
    die "fail2ban is installed but does not run: $what fails with: $error
  Reinstall or upgrade it (apt-get install --reinstall fail2ban), then run this again."
}

check_fail2ban() {
    local client server output status
    local -a python
    client="$(command -v fail2ban-client)" \
        || die "fail2ban-client not found: install fail2ban (Debian/Ubuntu: apt-get install fail2ban)"
    status=0
    output="$("$client" --version 2>&1)" || status=$?
    [ "$status" -eq 0 ] || fail2ban_broken "$client --version" "$output"
    server="$(command -v fail2ban-server)" \
        || die "fail2ban-client is at $client but fail2ban-server is not on PATH: reinstall fail2ban"
    read -r -a python <<<"$(fail2ban_python "$server")"
    status=0
    # From /, so that nothing in this directory shadows fail2ban's modules.
    output="$(cd / && "${python[@]}" -c 'import fail2ban.server.server, fail2ban.client.fail2banregex' 2>&1)" \
        || status=$?
    [ "$status" -eq 0 ] \
        || fail2ban_broken "importing fail2ban's server with $server's Python (${python[*]})" "$output"
    say "fail2ban runs: $(head -n 1 <<<"$("$client" --version 2>&1)") ($client, ${python[*]})"
}

if [ "$CHECK_FAIL2BAN_ONLY" = 1 ]; then
    check_fail2ban
    exit 0
fi

# --- Debian packages ----------------------------------------------------------
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
    else
        return 127
    fi
}

# apt-get as root, never asking. DEBIAN_FRONTEND goes on the command line:
# sudo resets the environment, so an exported one would not reach apt-get
# (and debconf would prompt, or fail with no terminal).
apt_get() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@"
}

APT_UPDATED=0
apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 0
    apt_get update -q || die "apt-get update failed"
    APT_UPDATED=1
}

has_candidate() {  # the package can be installed from the configured archives
    # (policy captured first: with pipefail, grep -q closing the pipe early
    # makes apt-cache die of SIGPIPE and the test fail.)
    grep -q 'Candidate: [0-9]' <<<"$(apt-cache policy "$1" 2>/dev/null)"
}

# Debian's and Ubuntu's pythonX.Y has no venv module (nor ensurepip) until
# pythonX.Y-venv is installed; python3-venv brings it for the default python3
# only, so PYTHON=python3.12 needs python3.12-venv.
venv_package() {
    "$PYTHON" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}-venv")' 2>/dev/null \
        || echo python3-venv
}

missing=()
if ! command -v fail2ban-client >/dev/null 2>&1 || [ ! -d /etc/fail2ban/filter.d ]; then
    missing+=(fail2ban)
fi
if [ "$WANT_TEST_TOOLS" = 1 ] && [ ! -x "$CHROMIUM" ]; then
    missing+=(chromium)
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
    missing+=(sqlite3)
fi
# Journal-backed jails (backend = systemd): fail2ban's Python needs the
# systemd module to run one or to test a filter against the journal, and the
# tests write their journal file with systemd-journal-remote (docs/config.md).
if ! /usr/bin/python3 -c 'import systemd.journal' >/dev/null 2>&1; then
    missing+=(python3-systemd)
fi
if [ "$WANT_TEST_TOOLS" = 1 ] && [ ! -x /lib/systemd/systemd-journal-remote ]; then
    missing+=(systemd-journal-remote)
fi
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    case "$PYTHON" in
        python3) missing+=(python3 python3-venv) ;;
        python3.[0-9]*) missing+=("$PYTHON" "$PYTHON-venv") ;;
    esac
elif [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    case "$(command -v "$PYTHON")" in
        /usr/bin/*|/bin/*) missing+=("$(venv_package)") ;;
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
    apt_update_once
    wanted=()
    for pkg in "${missing[@]}"; do
        case "$pkg" in
            chromium)
                # Only the browser tests need it, and Ubuntu ships it as a
                # snap only: do not let it block everything else.
                if ! has_candidate chromium; then
                    warn 'no installable "chromium" package here; the browser tests need a Chromium binary: set BANGUI_TEST_CHROMIUM to its path.'
                    continue
                fi ;;
            python3.*-venv)
                # An interpreter the archive has no pythonX.Y-venv for: the
                # default python3's python3-venv is the best there is.
                if ! has_candidate "$pkg"; then
                    warn "no package $pkg here; trying python3-venv (it only helps when $PYTHON is the default python3)"
                    pkg=python3-venv
                fi ;;
            python3.*)
                has_candidate "$pkg" \
                    || die "$PYTHON not found and this system has no package $pkg. BanGUI needs Python 3.11 or newer: install one and run PYTHON=python3.X scripts/setup.sh"
                ;;
        esac
        wanted+=("$pkg")
    done
    if [ "${#wanted[@]}" -gt 0 ]; then
        apt_get install -y -q --no-install-recommends "${wanted[@]}" \
            || die "apt-get install ${wanted[*]} failed"
    fi
fi

check_fail2ban

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
    "$PYTHON" -m venv "$VENV" || die "could not create .venv (on Debian/Ubuntu: apt-get install $(venv_package))"
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

# --- nginx and caddy for the tests (only with --proxy-tools) ------------------------
# scripts/check_proxy_configs.sh (bangui/tests/test_proxy_configs.py) runs
# `nginx -t` and `caddy validate` on the examples in docs/deployment/. Only the
# binaries are needed: Debian's (or Ubuntu's) packages are downloaded and
# unpacked into .venv/proxy-tools, never installed, so no nginx or caddy
# service is set up, enabled or started (with systemd or without), nothing is
# written to /etc and no port is taken. A system nginx is left alone.
PROXY_TOOLS="$VENV/proxy-tools"

unpack_proxy_tool() {  # unpack_proxy_tool PACKAGE BINARY-IN-PACKAGE VERSION-ARG
    local pkg="$1" binary="$2" version_arg="$3" link="$PROXY_TOOLS/bin/$1" dl deb status
    # (env -u NGINX: nginx reads $NGINX as a list of inherited sockets.)
    if [ -x "$link" ] && env -u NGINX "$link" "$version_arg" >/dev/null 2>&1; then
        say "$pkg for the proxy checks: $(env -u NGINX "$link" "$version_arg" 2>&1 | head -n 1) (.venv/proxy-tools)"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        warn "not Debian/Ubuntu (no apt-get): $pkg's example is not checked; set BANGUI_TEST_${pkg^^} to a $pkg binary to check it"
        return 0
    fi
    dl="$(mktemp -d)"
    # As root, apt-get download would hand the directory to its _apt sandbox
    # user, who cannot write to mktemp's private one.
    local -a download=(apt-get download -q)
    [ "$(id -u)" -eq 0 ] && download+=(-o APT::Sandbox::User=root)
    status=0
    (cd "$dl" && "${download[@]}" "$pkg") >"$dl/log" 2>&1 || status=$?
    if [ "$status" -ne 0 ] && [ "$APT_UPDATED" = 0 ] && as_root true; then
        # Package lists missing or stale: update once and try again.
        apt_get update -q >/dev/null 2>&1 && APT_UPDATED=1
        status=0
        (cd "$dl" && "${download[@]}" "$pkg") >"$dl/log" 2>&1 || status=$?
    fi
    deb="$(find "$dl" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)"
    if [ "$status" -ne 0 ] || [ -z "$deb" ]; then
        warn "could not download the $pkg package, its example in docs/deployment/ is not checked: $(tail -n 1 "$dl/log")"
        rm -rf "$dl"
        return 0
    fi
    rm -rf "${PROXY_TOOLS:?}/$pkg"
    mkdir -p "$PROXY_TOOLS/$pkg" "$PROXY_TOOLS/bin"
    dpkg-deb -x "$deb" "$PROXY_TOOLS/$pkg" || die "dpkg-deb -x $deb failed"
    rm -rf "$dl"
    ln -sfn "../$pkg/$binary" "$link"
    if ! env -u NGINX "$link" "$version_arg" >/dev/null 2>&1; then
        warn "the unpacked $pkg does not run here (a library missing?): $(env -u NGINX "$link" "$version_arg" 2>&1 | tail -n 1); its example is not checked"
        rm -rf "${PROXY_TOOLS:?}/$pkg" "$link"
        return 0
    fi
    say "$pkg for the proxy checks: $(env -u NGINX "$link" "$version_arg" 2>&1 | head -n 1) (unpacked into .venv/proxy-tools)"
}

if [ "$WANT_PROXY_TOOLS" = 1 ]; then
    unpack_proxy_tool nginx usr/sbin/nginx -v
    unpack_proxy_tool caddy usr/bin/caddy version
    # promtool checks contrib/prometheus/bangui-alerts.yml (notifications/tests/test_prometheus.py);
    # the link .venv/proxy-tools/bin/prometheus is promtool, not the server.
    unpack_proxy_tool prometheus usr/bin/promtool --version
fi

# --- other fail2ban releases for the tests (only with --fail2ban-versions) -----------
# scripts/test.sh runs the fail2ban-facing tests (marker "fail2ban") against
# each release below too (BANGUI_TEST_FAIL2BAN=<version>, see
# jails/fail2ban/testing.py). Debian's architecture-independent packages are
# downloaded straight from the Debian pool, checked against the SHA256 that
# the suite's signed Packages index gives for them, and unpacked side by side
# into .venv/fail2ban/<version>/, never installed: the system's fail2ban (its
# files, its service) is left alone. .venv/fail2ban/<version>/bin/ holds
# fail2ban-client, fail2ban-server and fail2ban-regex: wrappers that run the
# unpacked programs with their #! interpreter and PYTHONPATH set to the
# unpacked modules. Another mirror: BANGUI_DEBIAN_MIRROR=http://.../debian.
# A package gone from the pool (a newer Debian revision replaced it) is on
# snapshot.debian.org: BANGUI_DEBIAN_MIRROR=https://snapshot.debian.org/archive/debian/<date>.
#
#   version  Debian package  SHA256 of the .deb (apt-cache show fail2ban=<package>)
FAIL2BAN_RELEASES=(
    "1.1.0 1.1.0-8 ac35080546f1a1581163b2ebcb9796b08eb4abca3d3643082b76dce505cbd6d8"  # Debian 13 trixie
    "1.1.1 1.1.1-1 c544561da237a443c34982bc6be0bef39490406e08643d4ceb968f6177ac58c2"  # Debian forky
)
FAIL2BAN_TREES="$VENV/fail2ban"
DEBIAN_MIRROR="${BANGUI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

download() {  # download URL FILE
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 2 --max-time 300 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q --tries=3 --timeout=60 -O "$2" "$1"
    else
        "$VENV/bin/python" -c 'import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=60) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)' "$1" "$2"
    fi
}

fail2ban_tree_runs() {  # fail2ban_tree_runs DIR VERSION: its client says it is that version
    local out
    out="$(cd / && "$1/bin/fail2ban-client" --version 2>&1)" || return 1
    grep -q "^Fail2Ban v$2\$" <<<"$out"
}

unpack_fail2ban() {  # unpack_fail2ban VERSION DEBIAN-VERSION SHA256
    local version="$1" debver="$2" sha="$3"
    local dir="$FAIL2BAN_TREES/$version" deb="fail2ban_${2}_all.deb" dl got output status tool
    local stamp="$deb $sha"
    if [ -f "$dir/.bangui-deb" ] && [ "$(cat "$dir/.bangui-deb")" = "$stamp" ] \
            && fail2ban_tree_runs "$dir" "$version"; then
        say "fail2ban $version for the test matrix: up to date (.venv/fail2ban/$version)"
        return 0
    fi
    command -v dpkg-deb >/dev/null 2>&1 \
        || die "--fail2ban-versions needs dpkg-deb (Debian/Ubuntu's dpkg) to unpack $deb; or run the tests without the matrix: BANGUI_TEST_FAIL2BAN_VERSIONS= scripts/test.sh"
    case "$dir" in *"'"*) die "the project path $ROOT contains a single quote: the fail2ban wrappers cannot name it" ;; esac
    dl="$(mktemp -d)"
    say "Downloading $deb from $DEBIAN_MIRROR"
    if ! download "$DEBIAN_MIRROR/pool/main/f/fail2ban/$deb" "$dl/$deb" 2>"$dl/log"; then
        output="$(tail -n 1 "$dl/log")"
        rm -rf "$dl"
        die "could not download $DEBIAN_MIRROR/pool/main/f/fail2ban/$deb: ${output:-no reason given}
  Offline, or the package left the pool? Set BANGUI_DEBIAN_MIRROR to a mirror (or to
  https://snapshot.debian.org/archive/debian/<date>) that has it, or run the tests
  without the matrix: BANGUI_TEST_FAIL2BAN_VERSIONS= scripts/test.sh"
    fi
    got="$(sha256sum "$dl/$deb" | cut -d' ' -f1)"
    if [ "$got" != "$sha" ]; then
        rm -rf "$dl"
        die "$deb from $DEBIAN_MIRROR has SHA256 $got, Debian's index says $sha: not unpacked (a broken download or mirror; run this again)"
    fi
    rm -rf "${dir:?}"
    mkdir -p "$dir/bin"
    dir="$(cd "$dir" && pwd -P)"  # the wrappers name the real path (.venv may be a link)
    dpkg-deb -x "$dl/$deb" "$dir" || { rm -rf "$dl" "$dir"; die "dpkg-deb -x $deb failed"; }
    rm -rf "$dl"
    if [ ! -f "$dir/usr/bin/fail2ban-server" ] || [ ! -d "$dir/usr/lib/python3/dist-packages/fail2ban" ] \
            || [ ! -d "$dir/etc/fail2ban/filter.d" ]; then
        rm -rf "$dir"
        die "$deb does not hold usr/bin/fail2ban-server, usr/lib/python3/dist-packages/fail2ban and etc/fail2ban/filter.d"
    fi
    local -a python
    read -r -a python <<<"$(fail2ban_python "$dir/usr/bin/fail2ban-server")"
    for tool in fail2ban-client fail2ban-server fail2ban-regex; do
        # (fail2ban-client starts the fail2ban-server next to its own script:
        # the unpacked one, which inherits PYTHONPATH.)
        cat > "$dir/bin/$tool" <<EOF
#!/bin/sh
# fail2ban $version (Debian $debver), unpacked by scripts/setup.sh --fail2ban-versions
PYTHONPATH='$dir/usr/lib/python3/dist-packages'
export PYTHONPATH
exec ${python[*]} '$dir/usr/bin/$tool' "\$@"
EOF
        chmod +x "$dir/bin/$tool"
    done
    # Its modules, not the system's, and all of them importable (no module
    # outside Python's standard library is needed with backend = polling).
    status=0
    output="$(cd / && PYTHONPATH="$dir/usr/lib/python3/dist-packages" "${python[@]}" -c '
import fail2ban, fail2ban.server.server, fail2ban.client.fail2banregex
print(fail2ban.__file__)' 2>&1)" || status=$?
    if [ "$status" -ne 0 ] || [ "$(tail -n 1 <<<"$output")" != "$dir/usr/lib/python3/dist-packages/fail2ban/__init__.py" ]; then
        rm -rf "$dir"
        die "the unpacked fail2ban $version does not run with ${python[*]}: $(tail -n 1 <<<"$output")"
    fi
    if ! fail2ban_tree_runs "$dir" "$version"; then
        output="$(cd / && "$dir/bin/fail2ban-client" --version 2>&1 | tail -n 1)"
        rm -rf "$dir"
        die "the unpacked fail2ban $version does not say it is $version: $output"
    fi
    echo "$stamp" > "$dir/.bangui-deb"
    say "fail2ban $version for the test matrix: unpacked into .venv/fail2ban/$version (${python[*]})"
}

if [ "$WANT_FAIL2BAN_VERSIONS" = 1 ]; then
    for release in "${FAIL2BAN_RELEASES[@]}"; do
        # shellcheck disable=SC2086 # three words: version, package, SHA256
        unpack_fail2ban $release
    done
fi

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
        apt_update_once
        apt_get install -y -q --no-install-recommends postgresql \
            || die "apt-get install postgresql failed"
    fi
    as_root true || die "starting PostgreSQL needs root (or passwordless sudo)"
    # The newest cluster version. (Not "$(ls /etc/postgresql | ...)": with
    # pipefail a missing /etc/postgresql fails that assignment and set -e exits
    # silently, before the message below.)
    local version="" installed=""
    if [ -d /etc/postgresql ]; then
        version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
    fi
    if [ -z "$version" ]; then
        if [ -d /usr/lib/postgresql ]; then
            installed="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
        fi
        die "postgresql is installed but has no cluster in /etc/postgresql: create one (as root: pg_createcluster ${installed:-<version>} main), or set BANGUI_TEST_POSTGRES_URL, or run only SQLite: BANGUI_TEST_DATABASES=sqlite scripts/test.sh"
    fi
    if ! as_root pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
        say "Starting PostgreSQL $version (cluster main)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
            || die "pg_ctlcluster $version main start failed; see /var/log/postgresql/postgresql-$version-main.log"
    fi
    # Wait for it to accept connections, then (re)create the password role.
    for _ in $(seq 1 60); do
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
