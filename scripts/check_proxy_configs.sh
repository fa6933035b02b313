#!/usr/bin/env bash
# Check that the reverse-proxy examples in docs/deployment/ load in the proxies
# people run:
#
#   scripts/check_proxy_configs.sh            # nginx and Caddy
#   scripts/check_proxy_configs.sh nginx      # only nginx.conf
#   scripts/check_proxy_configs.sh caddy      # only the Caddyfile
#
# nginx: `nginx -t` on nginx.conf inside a minimal main config (events {} and
# http { include ... }), with a throwaway self-signed certificate for the
# Let's Encrypt paths and bangui_proxy_params written from the comment at the
# end of the example; once as it is and once with its sub-path locations
# uncommented. Caddy: `caddy validate` on the Caddyfile, likewise twice.
# Nothing binds a port or starts a server; everything lives in a temp dir.
#
# The binaries: $BANGUI_TEST_NGINX / $BANGUI_TEST_CADDY when set, else
# .venv/proxy-tools/bin/ (Debian's packages, unpacked there by
# `scripts/setup.sh --proxy-tools`, which scripts/test.sh runs), else the ones
# on PATH or in /usr/sbin, /usr/bin.
#
# Exit: 0 checked and fine (a proxy that is not installed is reported and
# skipped); 1 an example does not load;
# 2 bad usage; 77 none of the proxies asked for is installed (nothing checked).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# (BANGUI_PROXY_EXAMPLES: another directory with nginx.conf and Caddyfile, for
# the tests that show a broken example is caught.)
EXAMPLES="${BANGUI_PROXY_EXAMPLES:-$ROOT/docs/deployment}"
SKIP=77

want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(nginx caddy)
for w in "${want[@]}"; do
    case "$w" in
        nginx|caddy) ;;
        *) printf 'check_proxy_configs.sh: unknown proxy %s (nginx, caddy)\n' "$w" >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
fail() { printf 'check_proxy_configs.sh: %s\n' "$*" >&2; exit 1; }

find_binary() {  # find_binary NAME OVERRIDE: prints the path, or nothing
    local name="$1" override="$2" candidate
    if [ -n "$override" ]; then
        command -v "$override" || true
        return 0
    fi
    for candidate in "$ROOT/.venv/proxy-tools/bin/$name" "$(command -v "$name" || true)" "/usr/sbin/$name" "/usr/bin/$name"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bangui-proxy-check.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# --- nginx ----------------------------------------------------------------------
check_nginx() {
    local nginx="$1" dir="$TMP/nginx"
    mkdir -p "$dir"
    say "nginx: $(env -u NGINX "$nginx" -v 2>&1) ($nginx)"

    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bangui.example.org" \
        -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" >/dev/null 2>&1 \
        || fail "openssl could not make a self-signed certificate"

    # /etc/nginx/bangui_proxy_params, from the comment block that ends the example.
    sed -n '/^# \/etc\/nginx\/bangui_proxy_params:/,$ { /^#   /s/^#   //p }' \
        "$EXAMPLES/nginx.conf" > "$dir/bangui_proxy_params"
    grep -q '^proxy_set_header X-Forwarded-For' "$dir/bangui_proxy_params" \
        || fail "nginx.conf: no '# /etc/nginx/bangui_proxy_params:' block with X-Forwarded-For at its end"

    local site="$dir/site.conf" subpath="$dir/site-subpath.conf"
    sed -e "s|/etc/letsencrypt/live/bangui.example.org/fullchain.pem|$dir/fullchain.pem|" \
        -e "s|/etc/letsencrypt/live/bangui.example.org/privkey.pem|$dir/privkey.pem|" \
        -e "s|/etc/nginx/bangui_proxy_params|$dir/bangui_proxy_params|" \
        "$EXAMPLES/nginx.conf" > "$site"
    if ! grep -q "$dir/fullchain.pem" "$site" || ! grep -q "$dir/privkey.pem" "$site"; then
        fail "nginx.conf: the certificate paths changed; update scripts/check_proxy_configs.sh"
    fi
    # nginx -t binds the listen addresses (only "in use" is forgiven): ports 80
    # and 443 need root, and the check should take no public port anyway. So
    # listen on loopback, on two high ports; the listen options stay as written.
    local http_port=$((20000 + RANDOM % 20000)) https_port v6=0
    https_port=$((http_port + 1))
    grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null && v6=1
    sed -i -E -e "s/^([[:space:]]*listen )80([ ;])/\1127.0.0.1:$http_port\2/" \
        -e "s/^([[:space:]]*listen )443([ ;])/\1127.0.0.1:$https_port\2/" "$site"
    if [ "$v6" = 1 ]; then
        sed -i -E -e "s/^([[:space:]]*listen )\[::\]:80([ ;])/\1[::1]:$http_port\2/" \
            -e "s/^([[:space:]]*listen )\[::\]:443([ ;])/\1[::1]:$https_port\2/" "$site"
    else
        say "nginx: no IPv6 loopback here: the [::] listen lines are left out"
        sed -i -E '/^[[:space:]]*listen \[::\]:(80|443)[ ;]/d' "$site"
    fi
    if grep -Eq '^[[:space:]]*listen ([^0-9]*:)?(80|443)[ ;]' "$site"; then
        fail "nginx.conf: listen lines this check does not know; update scripts/check_proxy_configs.sh"
    fi
    # The sub-path variant: uncomment "# location" lines and what they hold.
    sed -E '/--- or under a sub-path/,/^}/ s/^    # (location|    |\})/    \1/' "$site" > "$subpath"
    grep -q '^    location /bangui/ {' "$subpath" \
        || fail "nginx.conf: found no commented 'location /bangui/ {' to check"

    local variant out status
    for variant in "$site" "$subpath"; do
        cat > "$dir/nginx.conf" <<EOF
pid $dir/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $variant;
}
EOF
        mkdir -p "$dir/tmp"
        status=0
        # (nginx takes $NGINX for sockets inherited on a binary upgrade: not ours.)
        out="$(env -u NGINX "$nginx" -t -p "$dir" -e stderr -c "$dir/nginx.conf" 2>&1)" || status=$?
        # nginx >= 1.25.1 warns that "listen ... http2" is deprecated: expected,
        # the example keeps the form that 1.22 and 1.24 understand.
        local warnings
        warnings="$(grep -F '[warn]' <<<"$out" | grep -vF 'directive is deprecated, use the "http2" directive instead' || true)"
        if [ "$status" -ne 0 ] || [ -n "$warnings" ]; then
            printf '%s\n' "$out" >&2
            fail "nginx -t rejects $EXAMPLES/nginx.conf ($(basename "$variant" .conf)); the output is above"
        fi
        say "nginx -t: $EXAMPLES/nginx.conf ($(basename "$variant" .conf)) is fine"
    done
}

# --- Caddy ----------------------------------------------------------------------
check_caddy() {
    local caddy="$1" dir="$TMP/caddy"
    mkdir -p "$dir/home"
    say "caddy: $("$caddy" version 2>&1 | head -n 1) ($caddy)"
    cp "$EXAMPLES/Caddyfile" "$dir/Caddyfile"
    # The sub-path variant: uncomment its site block, "# example.org {" to "# }".
    sed '/^# example\.org {$/,/^# }$/ s/^# //' "$EXAMPLES/Caddyfile" > "$dir/Caddyfile-subpath"
    grep -q '^	handle_path /bangui/\* {' "$dir/Caddyfile-subpath" \
        || fail "Caddyfile: found no commented 'handle_path /bangui/* {' to check"

    local variant out status
    for variant in "$dir/Caddyfile" "$dir/Caddyfile-subpath"; do
        status=0
        # Its own HOME: validate must not touch a real Caddy's storage.
        out="$(HOME="$dir/home" XDG_DATA_HOME="$dir/home/data" XDG_CONFIG_HOME="$dir/home/config" \
            "$caddy" validate --adapter caddyfile --config "$variant" 2>&1)" || status=$?
        # The Caddyfile adapter warns about formatting ("caddy fmt"): keep it tidy too.
        if [ "$status" -ne 0 ] || grep -q '"level":"warn"\|WARN' <<<"$out"; then
            printf '%s\n' "$out" >&2
            fail "caddy validate rejects $EXAMPLES/Caddyfile ($(basename "$variant")); the output is above"
        fi
        say "caddy validate: $EXAMPLES/Caddyfile ($(basename "$variant")) is fine"
    done
}

checked=0
for w in "${want[@]}"; do
    case "$w" in
        nginx) bin="$(find_binary nginx "${BANGUI_TEST_NGINX:-}")" ;;
        caddy) bin="$(find_binary caddy "${BANGUI_TEST_CADDY:-}")" ;;
    esac
    if [ -z "$bin" ]; then
        printf '==> %s: not installed, its example NOT checked (scripts/setup.sh --proxy-tools unpacks Debian'"'"'s %s into .venv/proxy-tools)\n' "$w" "$w"
        continue
    fi
    "check_$w" "$bin"
    checked=$((checked + 1))
done
if [ "$checked" -eq 0 ]; then
    printf 'check_proxy_configs.sh: no proxy installed, nothing checked\n' >&2
    exit "$SKIP"
fi
