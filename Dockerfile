# syntax=docker/dockerfile:1
# BanGUI: gunicorn web workers or the one django-q2 task worker, non-root,
# static files hashed and compressed at build time and served by whitenoise.
#
#   docker build -t bangui .
#   docker run ... bangui web      (default)   |   docker run ... bangui worker
#
# See docs/deployment.md and docs/deployment/compose.yml.
#
# BASE: the Python image, whose Debian suite also gives the fail2ban client
# tools (config check, regex tester): bookworm's 1.0.2 by default; a Debian
# 13 host (fail2ban 1.1.0) may build with BASE=python:3.13-slim-trixie.
ARG BASE=python:3.11-slim-bookworm

# --- builder: wheels for every dependency ---------------------------------------------
FROM ${BASE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# A compiler only in case a dependency has no wheel for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The locked dependencies, each checked against its hash (requirements/base.txt,
# PostgreSQL support included), then BanGUI's own wheel: it carries the
# templates, static files, contrib/ and the bundled country database.
COPY requirements/base.txt requirements/base.txt
RUN pip wheel --wheel-dir /wheels --require-hashes -r requirements/base.txt
COPY pyproject.toml setup.py ./
COPY bangui/ bangui/
COPY nodes/ nodes/
COPY accounts/ accounts/
COPY jails/ jails/
COPY blocklists/ blocklists/
COPY geo/ geo/
COPY api/ api/
COPY notifications/ notifications/
COPY allowlist/ allowlist/
COPY templates/ templates/
COPY static/ static/
COPY contrib/ contrib/
RUN pip wheel --wheel-dir /wheels --no-deps .

# --- final -----------------------------------------------------------------------------
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=bangui.settings \
    BANGUI_DATA_DIR=/var/lib/bangui \
    BANGUI_STATIC_ROOT=/app/staticfiles \
    BANGUI_MANIFEST_STATIC=1 \
    BANGUI_FAIL2BAN_SOCKET=/var/run/fail2ban/fail2ban.sock \
    BANGUI_FAIL2BAN_CONFIG_DIR=/etc/fail2ban
# Mount fail2ban's socket DIRECTORY at /var/run/fail2ban, never the socket file:
# fail2ban re-creates the socket when it restarts, and a file mount keeps the
# dead one ("connection refused"). docs/deployment.md, "The socket".

# fail2ban itself is not run here: its fail2ban-client and fail2ban-regex
# programs are what BanGUI calls (config checks, the regex tester). Debian's
# package brings its own python3; its service is never started in a container.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fail2ban \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 bangui \
    && useradd --system --uid 10001 --gid bangui --home-dir /var/lib/bangui \
               --shell /usr/sbin/nologin bangui \
    && install -d -o bangui -g bangui -m 0750 /var/lib/bangui

COPY --from=builder /wheels /wheels
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels /wheels/*.whl \
    && rm -rf /wheels

# BanGUI runs from the installed wheel (the `bangui` command); /app holds
# only manage.py (the same entry point, for habits and old scripts) and
# the container's helpers.
WORKDIR /app
COPY manage.py ./
COPY docker/entrypoint.sh /usr/local/bin/bangui-entrypoint
COPY docker/healthcheck.py docker/healthcheck.py

# Hashed, compressed static files, once, at build time (root-owned, read-only
# at run time). BanGUI makes its data dir at start (bangui/apps.py ready()):
# a throwaway data dir and key keep build-time state out of the image.
RUN BANGUI_DATA_DIR=/tmp/build-data BANGUI_SECRET_KEY=build-only-not-a-secret-collectstatic-xxxxxxxxxxxxxxxxxxxxxxxx \
        bangui collectstatic --noinput -v 0 \
    && rm -rf /tmp/build-data \
    && chmod 0755 /usr/local/bin/bangui-entrypoint

USER bangui:bangui
VOLUME ["/var/lib/bangui"]
EXPOSE 8000

# /health/live answers without the database or fail2ban; Python's urllib, not
# curl (the slim image has no curl); docker/healthcheck.py sends the Host and
# X-Forwarded-Proto a production config expects. The worker container has no
# HTTP: compose disables the check there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]

ENTRYPOINT ["bangui-entrypoint"]
CMD ["web"]
