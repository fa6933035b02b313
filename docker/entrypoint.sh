#!/bin/sh
# BanGUI container entry point.
#
#   web      gunicorn bangui.wsgi on 0.0.0.0:8000 (the default)
#   worker   manage.py qcluster: the one django-q2 task worker (run exactly one)
#   <other>  run as given, e.g. `python manage.py createsuperuser`, `sh`
#
# Before web and worker: migrate and sync_schedules (both idempotent). Django's
# migrate takes no lock: start the worker after the web container is healthy
# (docs/deployment/compose.yml does), or set BANGUI_MIGRATE=0 on all but one.
set -eu

prepare() {
    if [ "${BANGUI_MIGRATE:-1}" = 1 ]; then
        python /app/manage.py migrate --noinput
        python /app/manage.py sync_schedules
    fi
}

# Web workers: BANGUI_WEB_WORKERS, else 2 x cores + 1, at most 8 (each
# worker holds a database connection and the one-minute aggregate caches).
web_workers() {
    if [ -n "${BANGUI_WEB_WORKERS:-}" ]; then
        echo "$BANGUI_WEB_WORKERS"
        return
    fi
    python -c 'import os; n = len(os.sched_getaffinity(0)); print(min(2 * n + 1, 8))'
}

cmd="${1:-web}"
case "$cmd" in
    web)
        if [ "$#" -gt 0 ]; then shift; fi
        prepare
        # No --access-logfile: BanGUI logs one line per request itself (no
        # query string); gunicorn logs access only when given an access log
        # file. gunicorn's own messages go to stderr.
        exec gunicorn bangui.wsgi \
            --chdir /app \
            --bind "${BANGUI_BIND:-0.0.0.0:8000}" \
            --workers "$(web_workers)" \
            --timeout "${BANGUI_WEB_TIMEOUT:-60}" \
            --graceful-timeout 20 \
            --error-logfile - \
            "$@"
        ;;
    worker)
        if [ "$#" -gt 0 ]; then shift; fi
        prepare
        exec python /app/manage.py qcluster "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
