#!/usr/bin/env bash
# One command to see BanGUI working: sets up the machine (scripts/setup.sh),
# then runs, until Ctrl-C:
#   - a sandboxed fail2ban-server under var/demo/fail2ban (own config, socket,
#     db and logs; dummy actions, so no firewall is touched; the system's own
#     fail2ban is left alone), fed with failed logins from public IPs of many
#     countries, so bans happen while you watch  (manage.py demo_fail2ban)
#   - the task worker                          (manage.py qcluster)
#   - the web server on http://127.0.0.1:8000  (gunicorn, 2 workers)
#
# Knobs: BANGUI_DEMO_HOST (127.0.0.1), BANGUI_DEMO_PORT (8000),
#        BANGUI_DEMO_RATE (failed logins a minute, 24).
set -euo pipefail
# Started in the background (scripts/demo.sh &), a shell begins with SIGINT
# ignored, and bash cannot trap a signal ignored on entry: Ctrl-C (or kill
# -INT) then did nothing. Start again once with SIGINT restored (by
# python3: before setup when the machine has it, else right after setup
# installed it).
restore_sigint() {
    [ -z "${BANGUI_DEMO_SIGINT:-}" ] && command -v python3 >/dev/null 2>&1 || return 0
    export BANGUI_DEMO_SIGINT=restored
    exec python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp("bash", ["bash", *sys.argv[1:]])' "$SCRIPT" "$@"
}
SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
restore_sigint "$@"
set -m  # each child in its own process group: Ctrl-C reaches only this script,
        # which then stops the children in order (web, worker, fail2ban last).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HOST="${BANGUI_DEMO_HOST:-127.0.0.1}"
PORT="${BANGUI_DEMO_PORT:-8000}"
RATE="${BANGUI_DEMO_RATE:-24}"

die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

PY="$ROOT/.venv/bin/python"
DEMO="$ROOT/var/demo"
F2B="$DEMO/fail2ban"
LOGS="$DEMO/logs"
# The demo keeps its own database, secret key and static files, apart from a
# development database in var/: its setup wizard and settings start fresh and
# point at the sandbox, whatever another database says.
export BANGUI_DATA_DIR="$DEMO/data"
export BANGUI_FAIL2BAN_SOCKET="$F2B/run/fail2ban.sock"
export BANGUI_FAIL2BAN_CONFIG_DIR="$F2B/etc"
export PYTHONUNBUFFERED=1
# A newcomer can try everything: the regex tester and the server's log target
# may use the demo's own log folder; the demo serves a sample blocklist from
# its own web server (loopback, so private targets are allowed here only).
export BANGUI_REGEX_LOG_DIRS="$F2B/log,/var/log"
export BANGUI_LOGTARGET_DIRS="$F2B/log,/var/log"
export BANGUI_BLOCKLIST_ALLOW_PRIVATE=1

bash scripts/setup.sh --no-browser  # also migrates the demo database and collects static files
restore_sigint "$@"  # a machine that had no python3 before setup
mkdir -p "$LOGS"

"$PY" - "$HOST" "$PORT" <<'PYEOF' || die "$HOST:$PORT is already in use (another BanGUI demo or runserver?). Stop it, or pick another port: BANGUI_DEMO_PORT=8001 scripts/demo.sh"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        sys.exit(1)
PYEOF

F2B_PID="" WORKER_PID="" WEB_PID=""

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Ask politely (SIGTERM to the process), then make sure its whole process
# group is gone.
stop_child() {
    local pid="$1" name="$2" waited=0
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && [ "$waited" -lt 100 ]; do sleep 0.2; waited=$((waited + 1)); done
    if alive "$pid"; then
        echo "  $name did not stop within 20 s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    kill -TERM -- "-$pid" 2>/dev/null || true  # stragglers: gunicorn/qcluster children
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    trap - INT TERM EXIT
    echo
    echo "Stopping the BanGUI demo..."
    stop_child "$WEB_PID" "web server"
    stop_child "$WORKER_PID" "task worker"
    stop_child "$F2B_PID" "fail2ban sandbox"
    # Belt and braces: fail2ban-server runs as a daemon of its own.
    if [ -S "$BANGUI_FAIL2BAN_SOCKET" ] && \
        fail2ban-client -c "$BANGUI_FAIL2BAN_CONFIG_DIR" -s "$BANGUI_FAIL2BAN_SOCKET" ping >/dev/null 2>&1; then
        fail2ban-client -c "$BANGUI_FAIL2BAN_CONFIG_DIR" -s "$BANGUI_FAIL2BAN_SOCKET" stop >/dev/null 2>&1 || true
    fi
    echo "Stopped. Logs are in ${LOGS#"$ROOT"/}/."
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

echo "==> Starting the fail2ban sandbox and its traffic (output below)"
"$PY" manage.py demo_fail2ban --root "$F2B" --rate "$RATE" </dev/null 2>&1 | tee "$LOGS/fail2ban.log" &
# $! is tee's pid in a pipeline; the job's process group is what we stop.
F2B_PID="$(jobs -p %%)"

for _ in $(seq 1 300); do
    alive "$F2B_PID" || die "the fail2ban sandbox did not start; see ${LOGS#"$ROOT"/}/fail2ban.log and $F2B/log/fail2ban.log"
    if [ -S "$BANGUI_FAIL2BAN_SOCKET" ] && \
        fail2ban-client -c "$BANGUI_FAIL2BAN_CONFIG_DIR" -s "$BANGUI_FAIL2BAN_SOCKET" ping >/dev/null 2>&1; then
        break
    fi
    sleep 0.2
done
fail2ban-client -c "$BANGUI_FAIL2BAN_CONFIG_DIR" -s "$BANGUI_FAIL2BAN_SOCKET" ping >/dev/null 2>&1 \
    || die "the fail2ban sandbox did not answer within 60 s; see $F2B/log/fail2ban.log"

SAMPLE_URL="http://$HOST:$PORT/static/demo/sample-blocklist.txt"
[[ "$HOST" == *:* ]] && SAMPLE_URL="http://[$HOST]:$PORT/static/demo/sample-blocklist.txt"
export BANGUI_DEMO_BLOCKLIST_URL="$SAMPLE_URL"

echo "==> Starting the task worker (django-q2)"
"$PY" manage.py qcluster </dev/null >"$LOGS/qcluster.log" 2>&1 &
WORKER_PID=$!

echo "==> Starting the web server"
"$ROOT/.venv/bin/gunicorn" bangui.wsgi --workers 2 --bind "$HOST:$PORT" \
    --graceful-timeout 5 </dev/null >"$LOGS/web.log" 2>&1 &
WEB_PID=$!

URL="http://$HOST:$PORT/"
[[ "$HOST" == *:* ]] && URL="http://[$HOST]:$PORT/"
"$PY" - "$URL" <<'PYEOF' || die "the web server did not answer at $URL within 60 s; see ${LOGS#"$ROOT"/}/web.log"
import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=5)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any answer (a redirect to login, say) means it is up
    except OSError:
        time.sleep(0.3)
sys.exit(1)
PYEOF
alive "$WORKER_PID" || die "the task worker stopped; see ${LOGS#"$ROOT"/}/qcluster.log"

cat <<EOF

BanGUI demo is running:
  web UI       $URL   (gunicorn bangui.wsgi, 2 workers; log ${LOGS#"$ROOT"/}/web.log)
  task worker  manage.py qcluster (django-q2, 1 worker; log ${LOGS#"$ROOT"/}/qcluster.log)
  fail2ban     sandboxed fail2ban-server, jails sshd + nginx-http-auth
               socket $BANGUI_FAIL2BAN_SOCKET
               config $BANGUI_FAIL2BAN_CONFIG_DIR  (dummy actions: no firewall changes)
  traffic      about $RATE failed logins a minute from public IPs in many countries:
               expect a few bans a minute
  data         ${BANGUI_DATA_DIR#"$ROOT"/} (the demo's own database)
On the first visit the setup wizard asks for an admin account; its socket
field is already the sandbox's. Press Ctrl-C to stop everything.

EOF

# Run until Ctrl-C, or until one of the three stops on its own.
while true; do
    wait -n || true
    for pair in "web server:$WEB_PID" "task worker:$WORKER_PID" "fail2ban sandbox:$F2B_PID"; do
        if ! alive "${pair##*:}"; then
            echo "demo.sh: the ${pair%%:*} stopped unexpectedly; stopping the rest (logs in ${LOGS#"$ROOT"/}/)" >&2
            exit 1
        fi
    done
done
