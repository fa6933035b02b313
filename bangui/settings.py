"""BanGUI settings. Every knob is a BANGUI_* environment variable (see
``.env.example``; DATABASE_URL is the one standard name, docs/config.md);
the defaults run the embedded demo: SQLite under ``var/``, DEBUG off, a
secret key generated once and kept in ``var/``.

Importing this module reads the environment and files, and writes nothing:
the data directory, the static root and the generated secret key are made
on start-up by ``BanguiConfig.ready()`` (bangui/apps.py), and
``bangui/checks.py`` says when that could not be done.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from bangui.env import (
    ImproperEnv,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    env_time_zone,
)
from nodes import nodename

BASE_DIR = Path(__file__).resolve().parent.parent
# A source checkout (manage.py beside the apps) keeps its data in var/ and
# its site templates/static at the top; an installed wheel carries them as
# bangui's own (setup.py) and keeps data in BANGUI_DATA_DIR, by default
# /var/lib/bangui for root and ~/.local/share/bangui for anyone else.
SOURCE_TREE = (BASE_DIR / "manage.py").is_file()
_default_data = (BASE_DIR / "var" if SOURCE_TREE else
                 Path("/var/lib/bangui") if os.geteuid() == 0 else
                 Path.home() / ".local" / "share" / "bangui")
DATA_DIR = Path(env_str("BANGUI_DATA_DIR", str(_default_data))).resolve()

DEBUG = env_bool("BANGUI_DEBUG", False)
# Production flips the cookie and HSTS settings on; see docs/deployment.md.
SECURE = env_bool("BANGUI_SECURE", False)


_secret_key = env_str("BANGUI_SECRET_KEY")
if _secret_key and len(_secret_key) < 50:
    raise ImproperEnv("BANGUI_SECRET_KEY must be at least 50 characters long")
# Demo convenience, without BANGUI_SECRET_KEY: a key generated once and kept
# beside the SQLite database, so sessions survive restarts (production sets
# BANGUI_SECRET_KEY). Read here when it exists; the first start of a fresh
# installation has none yet: BanguiConfig.ready() makes it and sets
# SECRET_KEY (empty until then).
SECRET_KEY_FILE = None if _secret_key else DATA_DIR / "secret_key"
if SECRET_KEY_FILE is not None and SECRET_KEY_FILE.is_file():
    _secret_key = SECRET_KEY_FILE.read_text().strip()
SECRET_KEY = _secret_key
ALLOWED_HOSTS = env_list("BANGUI_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("BANGUI_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "bangui",
    # Before django_q: Django takes a command from the first app in this list
    # that has it, so the nodes app's `qcluster` overrides django-q2's.
    "nodes",
    "django_q",
    "axes",
    "accounts",
    "jails",
    "blocklists",
    "geo",
    "allowlist",  # the allow-list (docs/allowlist.md)
    "api",  # the JSON API (docs/api.md): nothing imports it
    "notifications",  # channels, rules, messages (docs/notifications.md): nothing imports it
]

MIDDLEWARE = [
    "bangui.middleware.RequestLogMiddleware",  # first: times and ids everything below
    "bangui.requestmemo.RequestMemoMiddleware",  # answers shared by a page's parts
    "jails.middleware.Fail2banBudgetMiddleware",  # one fail2ban timeout per request at most
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After whitenoise: a static file needs no database.
    "bangui.middleware.DatabaseReadyMiddleware",  # waits out a database restart (10 s)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Setup first (a fresh install shows the wizard), then the login wall.
    "accounts.middleware.SetupRequiredMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "accounts.middleware.TimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "bangui.middleware.VaryOnHtmxMiddleware",
    "bangui.middleware.ChangedEventMiddleware",  # the status bar hears of every action
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "bangui.urls"
WSGI_APPLICATION = "bangui.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"] if SOURCE_TREE else [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bangui.context_processors.bangui",
                "accounts.roles.context",
            ],
        },
    },
]
# Django's form renderer, remembering widgets rendered from the same plain
# values (bangui/renderer.py).
FORM_RENDERER = "bangui.renderer.MemoRenderer"

# --- database -------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    # Health checks: a kept connection is tried before a request (or a
    # task) uses it, so one that a PostgreSQL restart closed is replaced
    # instead of failing the request.
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60,
                                                  conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Parameters bound by the server, not spliced into the text by
        # psycopg in Python, and a statement run five times on a connection
        # prepared, so PostgreSQL skips its parse and plan: a page makes the
        # same ten (#29, docs/performance.md). Behind a pooler that cannot
        # keep prepared statements (PgBouncer in transaction mode before
        # 1.21): ?server_side_binding=false turns both off, as Django has them.
        #
        # Planned again for each run's parameters (plan_cache_mode), as an
        # unprepared statement is: after five runs PostgreSQL may keep one
        # generic plan, made without the values, and one made while the
        # archive was small scanned it whole when it was not. A node's
        # first sync of 200,000 rows took 322 s instead of 17 (2026-12-08,
        # docs/performance.md). Preparing still spares the parse.
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        if _options.setdefault("server_side_binding", True) is True:
            _options.setdefault("prepare_threshold", 5)
            if "plan_cache_mode" not in _options.get("options", ""):
                _options["options"] = " ".join(
                    [_options.get("options", ""), "-c plan_cache_mode=force_custom_plan"]).strip()
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "bangui.sqlite3",
            # Kept a minute, as PostgreSQL's: a new connection per request pays
            # the WAL pragma and the schema, and the last one to close
            # checkpoints and removes the WAL (measured 1-12 ms a request;
            # #29, docs/performance.md). Outside a transaction a kept
            # connection holds no lock.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # WAL lets the web workers read while the task worker writes;
                # IMMEDIATE transactions plus a busy timeout turn write
                # contention into a short wait instead of "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                # Seconds a writer waits for the lock before "database is
                # locked" (the background writers then retry: bangui.dbretry).
                "timeout": env_int("BANGUI_SQLITE_BUSY_SECONDS", 20, minimum=1, maximum=600),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache --------------------------------------------------------------------
# Files in the data directory, shared by every process of this host (the
# gunicorn workers and the node's task worker), never by a fleet's hosts:
# some keys are this host's own (the fail2ban socket path, local config
# files). Shared, an archive aggregate is computed once a minute for the
# host, not once per worker (#29's cold requests); the API's and allauth's
# rate limits and allauth's used two-factor codes hold across workers. Only
# ever a read-through cache of answers any process can recompute: state that
# must be shared lives in the database. The prefix names the database, so a
# second database beside the same directory (a test, a bench) never reads
# another's entries; a change to what a key holds changes that key's own
# prefix (every entry expires within the hour anyway). BANGUI_CACHE_DIR=""
# keeps it in each process's memory instead.
_cache_dir = env_str("BANGUI_CACHE_DIR", str(DATA_DIR / "cache"))
_db = DATABASES["default"]
_cache_owner = hashlib.sha256(repr((_db["ENGINE"], str(_db.get("NAME")), _db.get("HOST"),
                                    _db.get("PORT"))).encode()).hexdigest()[:12]
CACHES = {
    "default": {
        "BACKEND": "bangui.cache.FileCache",
        "LOCATION": _cache_dir,
        "KEY_PREFIX": _cache_owner,
        # Each set counts the directory's files; past this a third of them
        # go. The dashboard's filter combinations stay well below it.
        "OPTIONS": {"MAX_ENTRIES": 5000},
    } if _cache_dir else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "bangui",
    }
}

# --- auth and sessions ------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out clients
    "django.contrib.auth.backends.ModelBackend",
]
# django-allauth does single sign-on (OpenID Connect) and TOTP; BanGUI keeps
# its own login page, users and roles (docs/sso.md). Only the pieces below are
# used: no allauth signup, e-mail or password-reset pages.
INSTALLED_APPS += [
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
]
# After AuthenticationMiddleware (allauth's login stages need the user), and
# the 2FA wall after the login wall.
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.LoginRequiredMiddleware") + 1,
                  "allauth.account.middleware.AccountMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("allauth.account.middleware.AccountMiddleware") + 1,
                  "accounts.middleware.MfaRequiredMiddleware")
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # BanGUI sends no mail
ACCOUNT_UNIQUE_EMAIL = False  # an IdP's address never links to a local user
ACCOUNT_LOGOUT_ON_GET = False
SOCIALACCOUNT_LOGIN_ON_GET = False  # the login button POSTs (no login CSRF)
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # no takeover of a local user by e-mail
SOCIALACCOUNT_QUERY_EMAIL = False
SOCIALACCOUNT_STORE_TOKENS = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "BanGUI"
MFA_TRUST_ENABLED = False  # every login asks for the code
# One 30-s step either side (RFC 6238 5.2: a code typed as its step ends, a
# phone a few seconds off); allauth marks each accepted code used for the
# whole window, in the shared cache, so a code still logs in only once.
MFA_TOTP_TOLERANCE = 1
# The code steps with django-axes' lockout checked first (accounts/mfa.py).
MFA_FORMS = {"authenticate": "accounts.mfa.AuthenticateForm",
             "reauthenticate": "accounts.mfa.ReauthenticateForm"}

# Single sign-on: one OpenID Connect provider (issuer URL, client, button
# label), the claim holding the user's groups and which group gives which
# role ("bangui-admins=admin,helpdesk=support"; the highest match wins, no
# match: login refused). Unset issuer: no SSO anywhere.
_ROLE_NAMES = ("viewer", "support", "operator", "admin")  # accounts.roles.ROLES (a test checks)


def _role_map(name: str) -> dict[str, str]:
    mapping = {}
    for item in env_list(name, []):
        group, sep, role = (part.strip() for part in item.rpartition("="))
        if not sep or not group or role not in _ROLE_NAMES:
            raise ImproperEnv(f"{name}: {item!r} is not GROUP=ROLE with a role of "
                              f"{', '.join(_ROLE_NAMES)}")
        mapping[group] = role
    return mapping


BANGUI_OIDC_SERVER_URL = env_str("BANGUI_OIDC_SERVER_URL").strip().rstrip("/")
BANGUI_OIDC_CLIENT_ID = env_str("BANGUI_OIDC_CLIENT_ID").strip()
BANGUI_OIDC_CLIENT_SECRET = env_str("BANGUI_OIDC_CLIENT_SECRET").strip()
BANGUI_OIDC_NAME = env_str("BANGUI_OIDC_NAME", "Single sign-on").strip() or "Single sign-on"
BANGUI_OIDC_GROUPS_CLAIM = env_str("BANGUI_OIDC_GROUPS_CLAIM", "groups").strip() or "groups"
BANGUI_OIDC_ROLE_MAP = _role_map("BANGUI_OIDC_ROLE_MAP")
if BANGUI_OIDC_SERVER_URL and not (BANGUI_OIDC_CLIENT_ID and BANGUI_OIDC_ROLE_MAP):
    raise ImproperEnv("BANGUI_OIDC_SERVER_URL is set: BANGUI_OIDC_CLIENT_ID and "
                      "BANGUI_OIDC_ROLE_MAP are needed too (else nobody could log in)")
# Off: the username/password form is gone and only SSO logs in.
BANGUI_LOCAL_LOGIN = env_bool("BANGUI_LOCAL_LOGIN", True)
if not BANGUI_LOCAL_LOGIN and not BANGUI_OIDC_SERVER_URL:
    raise ImproperEnv("BANGUI_LOCAL_LOGIN=0 needs BANGUI_OIDC_SERVER_URL (else nobody "
                      "could log in)")
# Local users of these roles must enrol TOTP before any other page opens.
BANGUI_MFA_REQUIRED_ROLES = env_list("BANGUI_MFA_REQUIRED_ROLES", [])
for _role in BANGUI_MFA_REQUIRED_ROLES:
    if _role not in _ROLE_NAMES:
        raise ImproperEnv(f"BANGUI_MFA_REQUIRED_ROLES: {_role!r} is not a role "
                          f"({', '.join(_ROLE_NAMES)})")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env_int("BANGUI_SESSION_AGE", 8 * 3600, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
# (Read even when SECURE is off: a bad value of any variable stops the start.)
_ssl_redirect = env_bool("BANGUI_SSL_REDIRECT", True)
SECURE_SSL_REDIRECT = SECURE and _ssl_redirect
SECURE_HSTS_SECONDS = env_int("BANGUI_HSTS_SECONDS", 31536000 if SECURE else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = env_bool("BANGUI_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BANGUI_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# Reverse proxies in front of BanGUI whose X-Forwarded-For is trusted (the
# client address for login throttling, the auth log and the audit trail).
BANGUI_PROXY_COUNT = env_int("BANGUI_PROXY_COUNT", 0, minimum=0, maximum=5)

# --- login throttling (django-axes); see docs/accounts.md --------------------
AXES_FAILURE_LIMIT = env_int("BANGUI_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("BANGUI_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Lock a (username, IP) pair, and an IP trying many usernames.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout"
AXES_CLIENT_IP_CALLABLE = "bangui.clientip.client_ip"
AXES_VERBOSE = False
# Failed logins, one line each, for fail2ban's bangui-auth filter.
AUTH_LOG = Path(env_str("BANGUI_AUTH_LOG", str(DATA_DIR / "auth.log")))

_base_path = env_str("BANGUI_BASE_PATH").rstrip("/")
if _base_path:
    FORCE_SCRIPT_NAME = _base_path

# --- content security policy: no inline scripts or styles anywhere ---------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- i18n / time: stored in UTC, shown in the configured zone ---------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("BANGUI_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

# --- static files -------------------------------------------------------------
STATIC_URL = env_str("BANGUI_STATIC_URL", f"{_base_path}/static/")
STATIC_ROOT = Path(env_str("BANGUI_STATIC_ROOT", str(DATA_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"] if SOURCE_TREE else []
# (Made by BanguiConfig.ready() when missing: whitenoise warns without it.)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("BANGUI_MANIFEST_STATIC", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- fail2ban -----------------------------------------------------------------
FAIL2BAN_SOCKET = env_str("BANGUI_FAIL2BAN_SOCKET", "/var/run/fail2ban/fail2ban.sock")
# Set in this host's environment, the socket wins over the runtime setting of
# /settings/ (which lives in the database every node shares): a per-host value
# beats a fleet-wide one, and a node's restricted database role may not read
# the settings table at all (docs/fleet.md).
FAIL2BAN_SOCKET_FROM_ENV = bool(env_str("BANGUI_FAIL2BAN_SOCKET"))
FAIL2BAN_CONFIG_DIR = env_str("BANGUI_FAIL2BAN_CONFIG_DIR", "/etc/fail2ban")
FAIL2BAN_CLIENT = env_str("BANGUI_FAIL2BAN_CLIENT", "fail2ban-client")
FAIL2BAN_TIMEOUT = env_int("BANGUI_FAIL2BAN_TIMEOUT", 10, minimum=1, maximum=300)
# The zone fail2ban-server runs in, for the one answer where it writes times
# as text without a zone (``get JAIL banip --with-time``, read only when its
# database is not readable; the database holds epoch seconds). Empty: this
# host's zone from /etc/localtime, right when both share a host (not
# TIME_ZONE below, which Django makes this process's local zone).
FAIL2BAN_TIME_ZONE = env_time_zone("BANGUI_FAIL2BAN_TIME_ZONE")
# Config editor and regex tester (docs/config.md): fail2ban-regex, the
# directories whose logs the regex tester may read, and the directories a
# fail2ban log target file may be in.
BANGUI_FAIL2BAN_REGEX = env_str("BANGUI_FAIL2BAN_REGEX", "fail2ban-regex")
BANGUI_REGEX_LOG_DIRS = env_list("BANGUI_REGEX_LOG_DIRS", ["/var/log"])
# Config history (docs/config.md): versions kept per file and node, the
# oldest pruned on each write.
BANGUI_CONFIG_HISTORY_KEEP = env_int("BANGUI_CONFIG_HISTORY_KEEP", 100, minimum=2,
                                     maximum=100_000)
BANGUI_LOGTARGET_DIRS = env_list("BANGUI_LOGTARGET_DIRS", ["/var/log"])

# --- ban archive (docs/archive.md) ---------------------------------------------
# django-q2 schedules run at most once a minute: the interval is rounded up to
# whole minutes.
ARCHIVE_SYNC_SECONDS = env_int("BANGUI_ARCHIVE_SYNC_SECONDS", 60, minimum=60, maximum=86400)
ARCHIVE_RETENTION_DAYS = env_int("BANGUI_ARCHIVE_RETENTION_DAYS", 365, minimum=1)

# --- geo (docs/geo.md) ----------------------------------------------------------
# Empty: a GeoLite2 file fetched by `manage.py geoip_update`, else the bundled one.
GEOIP_PATH = env_str("BANGUI_GEOIP_PATH")
GEOIP_ASN_PATH = env_str("BANGUI_GEOIP_ASN_PATH")
GEOIP_DOWNLOAD_DIR = env_str("BANGUI_GEOIP_DOWNLOAD_DIR", str(DATA_DIR / "geoip"))
GEOIP_EDITION = env_str("BANGUI_GEOIP_EDITION", "GeoLite2-Country")
GEOIP_ASN_EDITION = env_str("BANGUI_GEOIP_ASN_EDITION", "GeoLite2-ASN")
MAXMIND_LICENSE_KEY = env_str("BANGUI_MAXMIND_LICENSE_KEY")
GEOIP_DOWNLOAD_URL = env_str(
    "BANGUI_GEOIP_DOWNLOAD_URL",
    "https://download.maxmind.com/app/geoip_download"
    "?edition_id={edition}&license_key={license_key}&suffix=tar.gz",
)
# Plain URLs instead of MaxMind's licence-key download: an .mmdb, an .mmdb.gz
# or a .tar.gz holding one .mmdb (country; ASN). The key or one of these turns
# the daily bangui:geoip-update schedule on.
GEOIP_URL = env_str("BANGUI_GEOIP_URL")
GEOIP_ASN_URL = env_str("BANGUI_GEOIP_ASN_URL")
# Seconds for all downloads of one update: below the task timeout (300 s).
GEOIP_DEADLINE = env_int("BANGUI_GEOIP_DEADLINE", 120, minimum=5, maximum=240)
GEO_HTTP_FALLBACK = env_bool("BANGUI_GEO_HTTP_FALLBACK", False)
GEO_HTTP_URL = env_str("BANGUI_GEO_HTTP_URL", "http://ip-api.com/batch")
GEO_RETENTION_DAYS = env_int("BANGUI_GEO_RETENTION_DAYS", 90, minimum=1)
GEO_RERESOLVE_DAYS = env_int("BANGUI_GEO_RERESOLVE_DAYS", 30, minimum=1)

# --- roles (docs/security.md) ---------------------------------------------------
# Operators who may edit config files are effectively root on the host (fail2ban
# runs actions as root). 0: config files and server settings for superusers only.
BANGUI_OPERATORS_EDIT_CONFIG = env_bool("BANGUI_OPERATORS_EDIT_CONFIG", True)

# --- blocklists (docs/blocklists.md) --------------------------------------------
BLOCKLIST_TIMEOUT = env_int("BANGUI_BLOCKLIST_TIMEOUT", 30, minimum=1, maximum=600)
BLOCKLIST_MAX_BYTES = env_int("BANGUI_BLOCKLIST_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# The whole download of a scheduled import, retries included: well below the
# task timeout (300 s), so a trickling server never holds the one worker.
BLOCKLIST_DEADLINE = env_int("BANGUI_BLOCKLIST_DEADLINE", 120, minimum=5, maximum=240)
# Off: lists are fetched from public addresses only (SSRF guard).
BLOCKLIST_ALLOW_PRIVATE = env_bool("BANGUI_BLOCKLIST_ALLOW_PRIVATE", False)
BLOCKLIST_BAN_TIMEOUT = env_int("BANGUI_BLOCKLIST_BAN_TIMEOUT", 300, minimum=10)
# scripts/demo.sh: the sample list the demo serves itself, offered on "Add a source".
DEMO_BLOCKLIST_URL = env_str("BANGUI_DEMO_BLOCKLIST_URL", "")
BLOCKLIST_CIDR_LIMIT = env_int("BANGUI_BLOCKLIST_CIDR_LIMIT", 256, minimum=1, maximum=65536)

# --- background work: one django-q2 cluster with exactly one worker -----------
# This process's node (nodes/nodename.py, docs/fleet.md): a task cluster
# works for the node it is started as, on that node's queue; the web tier
# uses it for the node it talks to directly. Default: the host name.
try:
    BANGUI_NODE = nodename.clean(env_str("BANGUI_NODE") or nodename.from_host())
except nodename.BadNodeName as exc:
    raise ImproperEnv(f"BANGUI_NODE: {exc}") from None

Q_CLUSTER = {
    "name": "bangui",
    "cluster_name": nodename.queue(BANGUI_NODE),
    "workers": 1,
    "orm": "default",
    "timeout": 300,
    "retry": 600,  # longer than timeout, so a slow task is never run twice
    "catch_up": False,
    "max_attempts": 1,
    "save_limit": 500,
    "ack_failures": True,
    "poll": 1,
    "broker_class": "bangui.broker.ORM",  # the ORM broker, waiting out a busy database
}
# A worker process whose peak RSS passed this is replaced after its task
# (django-q2's max_rss, KiB): Python keeps the memory a big import or first
# sync freed, so without it the worker stayed at its high-water mark for good.
_WORKER_MAX_RSS_MB = env_int("BANGUI_WORKER_MAX_RSS_MB", 160, minimum=0, maximum=65536)
if _WORKER_MAX_RSS_MB:
    Q_CLUSTER["max_rss"] = max(_WORKER_MAX_RSS_MB, 64) * 1024
# Commands routed to a node's cluster (jails/fleet/commands.py): how long the
# sender waits for the answers, and how long after sending a node may still
# run one (later, it is dropped: no stale bans from a node that comes back).
BANGUI_COMMAND_WAIT_SECONDS = env_int("BANGUI_COMMAND_WAIT_SECONDS", 10, minimum=1, maximum=120)
BANGUI_COMMAND_DEADLINE_SECONDS = env_int("BANGUI_COMMAND_DEADLINE_SECONDS", 60, minimum=5,
                                          maximum=3600)
# The JSON API (docs/api.md): requests a minute per token (0: no limit).
BANGUI_API_RATE_LIMIT = env_int("BANGUI_API_RATE_LIMIT", 120, minimum=0, maximum=100_000)
# Notifications (docs/notifications.md): channels on private/loopback addresses
# (a self-hosted ntfy or Gotify) only when allowed; each attempt's deadline in
# seconds; attempts per message and channel (backoff 2 s, 4 s ...).
NOTIFY_ALLOW_PRIVATE = env_bool("BANGUI_NOTIFY_ALLOW_PRIVATE", False)
NOTIFY_TIMEOUT = env_int("BANGUI_NOTIFY_TIMEOUT", 10, minimum=1, maximum=120)
NOTIFY_ATTEMPTS = env_int("BANGUI_NOTIFY_ATTEMPTS", 3, minimum=1, maximum=10)
# Every this many seconds a node's cluster publishes its facts (fail2ban up,
# version, jails) and queues itself a tick (archive sync: a node's bans reach
# the dashboard within seconds). 0: facts with the lease only, no tick.
BANGUI_NODE_TICK_SECONDS = env_int("BANGUI_NODE_TICK_SECONDS", 5, minimum=0, maximum=300)
# The database lease that keeps a second cluster from starting
# (nodes/worker.py): renewed every third of this, taken over this long after
# its holder died.
BANGUI_WORKER_LEASE_SECONDS = env_int("BANGUI_WORKER_LEASE_SECONDS", 30, minimum=3, maximum=3600)

# --- logging: no secrets, one line per event ---------------------------------
# One line per request (bangui.middleware.RequestLogMiddleware) and per event,
# each with its request id or task id; BANGUI_LOG_JSON=1 writes JSON lines.
LOG_LEVEL = env_choice("BANGUI_LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOG_JSON = env_bool("BANGUI_LOG_JSON", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "bangui.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task)s]: "
                            "%(message)s"},
        "json": {"()": "bangui.logging.JsonFormatter"},
        # UTC with the offset written out (accounts/authlog.py says why).
        "auth": {"()": "accounts.authlog.AuthLogFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["context"],
                    "formatter": "json" if LOG_JSON else "plain"},
        "auth_file": {"class": "logging.handlers.WatchedFileHandler", "filename": str(AUTH_LOG),
                      "formatter": "auth", "delay": True},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "bangui.auth": {"handlers": ["auth_file", "console"], "level": "INFO",
                        "propagate": False},
        # gunicorn writes no access lines (the shipped configs give it no
        # access log file; bangui.request's line is the one per request). Its
        # messages from inside a web worker (request errors, worker exits)
        # take the console format too; the master's few (start, workers
        # booted, timeouts) keep gunicorn's own, on the same stderr.
        "gunicorn.error": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

# --- health and metrics (docs/operations.md) ------------------------------------
# /metrics answers only when one of these is set (404 otherwise): a bearer
# token, and/or client networks (CIDR) allowed to scrape; with both, both apply.
METRICS_TOKEN = env_str("BANGUI_METRICS_TOKEN")
METRICS_ALLOW = env_list("BANGUI_METRICS_ALLOW", [])
for _net in METRICS_ALLOW:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError:
        raise ImproperEnv(f"BANGUI_METRICS_ALLOW: {_net!r} is not an address or network") from None

BANGUI_VERSION = "0.1.0"
