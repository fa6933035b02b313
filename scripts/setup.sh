#!/usr/bin/env bash
# Prepare a Debian/Ubuntu machine to run and test BanGUI. Safe to run again:
# every step checks first and only does what is missing.
#
#   scripts/setup.sh              # uses python3
#   PYTHON=python3.12 scripts/setup.sh
#
# Installs the Debian packages fail2ban, chromium and sqlite3 when missing
# (with sudo when not root), creates .venv, installs BanGUI with its dev
# extras, migrates the database and collects static files.
# BanGUI never touches the system's own fail2ban service: the demo and the
# tests run their own sandboxed fail2ban-server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

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
        if [ "$pkg" = chromium ] && ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
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
want="$( (cat pyproject.toml; "$VENV/bin/python" -V) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "Installing BanGUI and its dev dependencies into .venv (log: .venv/pip-install.log)"
    log="$VENV/pip-install.log"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip \
           && "$VENV/bin/python" -m pip install -e '.[dev]'; } >"$log" 2>&1; then
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
say "Setup done"
