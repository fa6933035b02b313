#!/usr/bin/env bash
# BanGUI on a fresh Debian 13 (trixie), as a new user gets it: a minimal
# root built with debootstrap from Debian's archive, this repository cloned
# into it, and the README's two commands run inside (issue #25: Debian 13 as
# a first-class host; fail2ban 1.1.0, Python 3.13). Not part of CI's time:
# rerun it by hand (as root, on a Debian/Ubuntu machine):
#
#   scripts/debian13-root.sh                 # build the root, set up, run the demo, fetch its first page
#   scripts/debian13-root.sh --tests         # ... then the test command too (SQLite, no matrix, no soak)
#   BANGUI_ROOT_DIR=/srv/trixie scripts/debian13-root.sh   # where the root goes (default /var/tmp/bangui-trixie)
#   BANGUI_ROOT_MIRROR=http://deb.debian.org/debian        # the archive (default)
#
# The root shares this machine's network (a chroot, not a container), so
# its demo listens on 127.0.0.1:$BANGUI_DEMO_PORT (default 8765) and its
# tests use their own sandboxed fail2ban, as everywhere. /proc, /sys, /dev
# and /dev/pts are bound into it only while it runs (a private mount
# namespace: nothing stays mounted on the host). Output: var/debian13/*.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${BANGUI_ROOT_DIR:-/var/tmp/bangui-trixie}"
MIRROR="${BANGUI_ROOT_MIRROR:-http://deb.debian.org/debian}"
PORT="${BANGUI_DEMO_PORT:-8765}"
LOGS="$ROOT/var/debian13"
WANT_TESTS=0
for arg in "$@"; do
    case "$arg" in
        --tests) WANT_TESTS=1 ;;
        *) echo "debian13-root.sh: unknown option $arg (--tests)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "debian13-root.sh: run it as root (debootstrap, chroot)" >&2; exit 1; }
mkdir -p "$LOGS"
say() { printf '==> %s\n' "$*"; }

if ! command -v debootstrap >/dev/null 2>&1; then
    say "Installing debootstrap"
    apt-get update -q && apt-get install -y -q debootstrap
fi

if [ ! -x "$TARGET/usr/bin/apt-get" ]; then
    say "debootstrap trixie into $TARGET (log: $LOGS/debootstrap.log)"
    timeout 1800 debootstrap --variant=minbase --include=ca-certificates,git,curl,sudo,procps \
        trixie "$TARGET" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1
    echo "deb $MIRROR trixie main" >"$TARGET/etc/apt/sources.list"
fi

say "Cloning this repository's HEAD into $TARGET/root/bangui"
rm -rf "$TARGET/root/bangui"
git clone -q "$ROOT" "$TARGET/root/bangui"

# Inside: the README's commands, as a user on a fresh machine would type them.
cat >"$TARGET/root/run-bangui.sh" <<EOF
#!/bin/bash
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 CI=true
cd /root/bangui
. /etc/os-release; echo "inside: \$PRETTY_NAME, \$(python3 --version)"
apt-get update -q >/dev/null
BANGUI_DEMO_PORT=$PORT scripts/demo.sh >/root/demo.log 2>&1 &
demo=\$!
for i in \$(seq 600); do
    code=\$(curl -s -o /root/first-page.html -w '%{http_code}' http://127.0.0.1:$PORT/ || true)
    [ "\$code" = 200 ] || [ "\$code" = 302 ] && break
    kill -0 \$demo 2>/dev/null || break
    sleep 1
done
echo "demo: GET / answered \$code after \$i s"
curl -s -L -o /root/first-page.html -w 'demo: first page %{url_effective} %{http_code}\n' http://127.0.0.1:$PORT/
grep -o '<title>[^<]*</title>' /root/first-page.html || true
grep -o 'Fail2Ban v[0-9.]*' /root/demo.log | head -1 || true
kill -INT \$demo; wait \$demo; echo "demo stopped: exit \$?"
if [ "$WANT_TESTS" = 1 ]; then
    BANGUI_TEST_DATABASES=sqlite BANGUI_TEST_FAIL2BAN_VERSIONS= BANGUI_TEST_SOAK=0 \
        scripts/test.sh -q -p no:cacheprovider >/root/test.log 2>&1
    echo "tests: exit \$?"; tail -3 /root/test.log
fi
EOF
chmod +x "$TARGET/root/run-bangui.sh"

say "Running the README's commands inside (log: $LOGS/run.log)"
unshare --mount --propagation private bash -c "
    set -e
    for d in proc sys dev dev/pts; do mkdir -p '$TARGET/'\$d; mount --bind /\$d '$TARGET/'\$d; done
    cp /etc/resolv.conf '$TARGET/etc/resolv.conf'
    # This machine's own certificate authorities (an HTTPS proxy's), as a
    # user's machine behind the same proxy has them.
    if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
        cp /usr/local/share/ca-certificates/*.crt '$TARGET/usr/local/share/ca-certificates/'
        chroot '$TARGET' update-ca-certificates >/dev/null
    fi
    chroot '$TARGET' /root/run-bangui.sh
" 2>&1 | tee "$LOGS/run.log"
cp "$TARGET/root/demo.log" "$LOGS/demo.log" 2>/dev/null || true
cp "$TARGET/root/first-page.html" "$LOGS/first-page.html" 2>/dev/null || true
cp "$TARGET/root/test.log" "$LOGS/test.log" 2>/dev/null || true
say "Done: $LOGS"
