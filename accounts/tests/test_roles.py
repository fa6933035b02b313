"""Who may do what: the roles table, and a walk of every URL as every role.

The walk (``test_every_role_gets_exactly_what_its_role_allows``) takes every
URL pattern (``get_resolver``: this project's, Django admin's), GETs and
POSTs it as anonymous, viewer, support, operator and admin, and checks:
allowed (not 403, not sent to a login page, no 500) exactly when
``accounts.roles`` says the role may do the URL's kind of action, refused
otherwise (403/405, anonymous to the login page), and that a refused request
changed no database row, wrote no "ok" audit row and sent fail2ban nothing.
What each URL is comes from ``state_changing.py`` (POST) and ``GET_NEEDS``
below, not from the views, so a view that forgets its decorator fails here.
jails/tests/test_viewer_walk.py walks the viewer further, against a real
fail2ban (config files, log lines).
"""

import re

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from accounts import roles
from accounts.models import AuditEntry
from accounts.tests.conftest import ensure_roles
from accounts.tests.state_changing import STATE_CHANGING
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

# Reachable without login: the login page itself, the setup wizard (404 after
# setup), health probes, metrics (their own token or allow-list), static
# files, set-password links (the token is the key), and Django admin (its own
# login).
PUBLIC_PREFIXES = ("/login/", "/setup/", "/health/", "/metrics", "/static/", "/admin/",
                   "/favicon.ico",  # a redirect to the static icon
                   "/accounts/set-password/",
                   # Single sign-on's start, callback, "cancelled" and "error"
                   # pages come before any login (test_sso.py), and so does the
                   # two-factor code step of a login under way (test_mfa.py).
                   "/accounts/oidc/", "/accounts/sso/", "/accounts/2fa/authenticate/")
# The JSON API answers 401 itself (api/auth.py); api/tests check its roles.
API_PREFIX = "/api/"
_SAMPLE = {"int": "1", "str": "sample", "slug": "sample", "path": "sample/x",
           "uuid": "00000000-0000-0000-0000-000000000000"}

# What a GET needs where it is not "read" (every page is for every role;
# None: POST only).
GET_NEEDS = {"settings": "settings", "users": "users",
             "blocklist_new": "operate", "blocklist_edit": "operate", "logout": None,
             "notification_channel_new": "operate", "notification_channel_edit": "operate",
             "notification_rule_new": "operate", "notification_rule_edit": "operate"}
# POSTs anyone signed in may send that change nothing of fail2ban's:
# sign out, their own password and two-factor settings (and the password or
# code that confirms such a change), the regex tester on pasted lines.
POST_FOR_READERS = {"logout": "read", "password_change": "read", "config_regex": "read",
                    "account_logout": "read", "account_reauthenticate": "read",
                    "mfa_reauthenticate": "read", "mfa_activate_totp": "read",
                    "mfa_deactivate_totp": "read", "mfa_generate_recovery_codes": "read",
                    # allauth's view takes any method: one's own codes as a file
                    "mfa_download_recovery_codes": "read"}
POST_NEEDS = {**POST_FOR_READERS, **{a.url_name: a.action for a in STATE_CHANGING}}
POST_DATA = {a.url_name: a.data for a in STATE_CHANGING}
ROLE_NAMES = ("anonymous", *roles.ROLES)


def _concrete_paths(patterns=None, prefix="/"):
    """Every URL pattern as a concrete path, converters filled with samples."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(entry.pattern)
        if route.startswith("^"):  # regex patterns: only admin uses them
            route = route.strip("^$")
        route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLE.get(m.group(1) or "str", "sample"),
                       route)
        if isinstance(entry, URLResolver):
            yield from _concrete_paths(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def _protected_paths():
    return sorted({p for p in _concrete_paths()
                   if not p.startswith(PUBLIC_PREFIXES) and not p.startswith(API_PREFIX)})


def _needs(path: str, method: str) -> str | None:
    """The kind of action a request is (None: nobody may send it)."""
    name = resolve(path).url_name
    if method == "get":
        if name in GET_NEEDS:
            return GET_NEEDS[name]
        return None if name in POST_DATA or name in _node_twins() else "read"
    return POST_NEEDS.get(name) or _node_twins().get(name)


def _node_twins() -> dict[str, str]:
    """A node's page is this host's view with the node as parameter
    (docs/fleet.md): /nodes/N/config/file/save/ needs what /config/file/save/ does."""
    names = {resolve(p).url_name for p in _protected_paths()}
    return {n: POST_NEEDS[n.removeprefix("node_")] for n in names
            if n and n.startswith("node_") and n.removeprefix("node_") in POST_DATA}


# --- the table ------------------------------------------------------------------------
def test_it_keeps_the_ladder():
    assert roles.ROLES == ("viewer", "support", "operator", "admin")
    may = {role: {a for a in roles.ACTIONS if roles.role_may(role, a)} for role in roles.ROLES}
    assert may["viewer"] == {"read"}
    assert may["support"] == {"read", "ban"}
    assert may["operator"] == {"read", "ban", "operate", "config"}
    assert may["admin"] == set(roles.ACTIONS)
    assert not any(roles.role_may(None, a) for a in roles.ACTIONS)


@override_settings(BANGUI_OPERATORS_EDIT_CONFIG=False)
def test_it_keeps_config_for_admins_when_operators_may_not_edit_it():
    assert not roles.role_may("operator", "config")
    assert roles.role_may("operator", "operate")
    assert roles.role_may("admin", "config")


def test_it_gives_the_groups_the_permissions_of_their_roles():
    ensure_roles()
    perms = {g.name: {p.codename for p in g.permissions.all()}
             for g in Group.objects.filter(name__in=roles.GROUP_ROLES)}
    assert perms == {"viewer": set(), "support": {"ban"}, "operator": {"ban", "operate"}}


def test_it_reads_each_users_role(admin_user, operator_user, viewer_user, support_user,
                                  django_user_model):
    assert roles.role_of(admin_user) == "admin"
    assert roles.role_of(operator_user) == "operator"
    assert roles.role_of(support_user) == "support"
    assert roles.role_of(viewer_user) == "viewer"
    plain = django_user_model.objects.create_user("plain")
    assert roles.role_of(plain) == "viewer"  # signed in, no group: reads
    plain.is_active = False
    assert roles.role_of(plain) is None
    assert support_user.has_perm("accounts.ban") and not support_user.has_perm("accounts.operate")


# --- the walk ---------------------------------------------------------------------------
def test_it_finds_urls_to_check():
    paths = _protected_paths()
    assert "/" in paths and "/audit/" in paths and "/settings/" in paths
    assert "/accounts/users/" in paths
    for path in paths:
        resolve(path)


def test_it_sends_anonymous_users_to_login_on_every_url(setup_done, client):
    for path in _protected_paths():
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 302, (method.__name__, path)
            assert response["Location"].startswith("/login/?next="), path


def _snapshot() -> dict:
    counts = {m._meta.label: m._default_manager.count() for m in apps.get_models()
              if m._meta.managed and not m._meta.proxy and m is not Session}
    counts["audit ok"] = AuditEntry.objects.filter(result="ok").count()
    return counts


@pytest.fixture
def role_clients(admin_user, operator_user, support_user, viewer_user):
    users = {"admin": admin_user, "operator": operator_user, "support": support_user,
             "viewer": viewer_user}
    clients = {"anonymous": (Client(), None)}
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        clients[role] = (client, user)
    return clients


@pytest.fixture
def fail2ban_calls(monkeypatch):
    """Every command BanGUI sends any fail2ban socket (none answers here):
    one at a time (``call``), and the bans and unbans of many addresses
    (``_in_batches``). The other users of ``session()`` only read: the
    status bar's overview, on every page, a 403 page's too."""
    from jails.fail2ban import client as f2b_client

    calls = []
    call, in_batches = f2b_client.Fail2banClient.call, f2b_client.Fail2banClient._in_batches

    def spy_call(self, *command):
        calls.append(command)
        return call(self, *command)

    def spy_in_batches(self, command, targets, *args):
        calls.append((*command, *targets))
        return in_batches(self, command, targets, *args)

    monkeypatch.setattr(f2b_client.Fail2banClient, "call", spy_call)
    monkeypatch.setattr(f2b_client.Fail2banClient, "_in_batches", spy_in_batches)
    return calls


def _refused(role: str, path: str, response) -> bool:
    status = response.status_code
    if path.startswith("/admin/") and role != "admin":  # Django admin: its own login
        return status == 302 and response["Location"].startswith(("/admin/login/", "/login/"))
    if role == "anonymous":
        return status == 302 and response["Location"].startswith("/login/")
    return status in (403, 405)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_role_gets_exactly_what_its_role_allows(role, role_clients, fail2ban_calls):
    client, user = role_clients[role]
    role_of = None if role == "anonymous" else role
    problems = []
    paths = _protected_paths() + sorted(
        p for p in _concrete_paths()
        if p.startswith("/admin/") and not p.startswith(("/admin/login/", "/admin/logout/")))
    for path in paths:
        for method in ("get", "post"):
            if user is not None and "_auth_user_id" not in client.session:
                client.force_login(user)  # a logout on the way
            if path.startswith("/admin/"):
                allowed = role == "admin"
            else:
                needs = _needs(path, method)
                allowed = needs is not None and roles.role_may(role_of, needs)
            before, sent = _snapshot(), len(fail2ban_calls)
            data = POST_DATA.get(resolve(path).url_name, {}) if method == "post" else None
            response = getattr(client, method)(path, data)
            what = f"{method.upper()} {path} as {role}: {response.status_code}"
            if response.status_code >= 500 and response.status_code != 503:  # 503: node down
                problems.append(what)
            elif path.startswith("/admin/") and allowed:
                # Django admin's own rules (read-only models answer 403): only
                # that an admin is not sent to a login page.
                if response.status_code == 302 and "login/" in response["Location"]:
                    problems.append(f"{what}, sent to log in")
            elif allowed and _refused(role, path, response):
                problems.append(f"{what}, refused but the role allows it")
            elif not allowed and not _refused(role, path, response):
                problems.append(f"{what}, not refused")
            if not allowed:
                changed = {k for k, v in _snapshot().items() if before[k] != v}
                if changed:
                    problems.append(f"{what}, refused but changed {sorted(changed)}")
                if len(fail2ban_calls) != sent:
                    problems.append(f"{what}, refused but sent {fail2ban_calls[sent:]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("action", STATE_CHANGING, ids=str)
def test_it_enforces_csrf_on_every_state_changing_url(admin_user, action):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(action.url(), action.data).status_code == 403


def test_it_shows_nav_links_per_role(viewer_client, admin_client):
    viewer_page = viewer_client.get("/audit/").content.decode()
    admin_page = admin_client.get("/audit/").content.decode()
    for link in ('href="/settings/"', 'href="/accounts/users/"'):
        assert link not in viewer_page
        assert link in admin_page
    for body in (viewer_page, admin_page):
        assert 'href="/audit/"' in body
        assert 'action="/logout/"' in body


def test_a_disabled_user_is_signed_out_at_the_next_request(viewer_user, viewer_client):
    viewer_user.is_active = False
    viewer_user.save()
    response = viewer_client.get("/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    again = Client().post("/login/", {"username": "viewer", "password": TEST_PASSWORD})
    assert again.status_code == 200  # the form again, not signed in


# --- against the real fail2ban sandbox ---------------------------------------------------
@pytest.fixture
def sandbox(f2b, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": str(tmp_path)}}
    return f2b


def test_support_bans_and_unbans_but_cannot_stop_a_jail(sandbox, f2b_client, support_client):
    address = "203.0.113.27"
    assert support_client.post("/jails/sshd/ban/", {"ips": address}).status_code in (200, 302)
    assert address in f2b_client.jail_status("sshd").banned_ips
    # The jail page shows what support may do (ban, unban), not what it may not.
    page = support_client.get("/jails/sshd/").content.decode()
    assert 'action="/jails/sshd/ban/"' in page and 'action="/jails/sshd/unban/"' in page
    assert 'action="/jails/sshd/stop/"' not in page
    ip_page = support_client.get(f"/ip/{address}/").content.decode()
    assert f'action="/ip/{address}/unban/"' in ip_page
    assert 'action="/bans/ban/' in support_client.get("/").content.decode()
    assert AuditEntry.objects.filter(action="ban", actor_name="support", result="ok").exists()
    assert support_client.post(f"/ip/{address}/unban/", {"jail": "sshd"}).status_code \
        in (200, 302)
    assert address not in f2b_client.jail_status("sshd").banned_ips

    audit_rows = AuditEntry.objects.count()
    for path in ("/jails/sshd/stop/", "/jails/sshd/reload/", "/jails/sshd/unban-all/",
                 "/jails/sshd/ignore/add/"):
        assert support_client.post(path, {"value": "192.0.2.1"}).status_code == 403, path
    assert "sshd" in f2b_client.jail_names()
    assert "192.0.2.1" not in f2b_client.jail_settings("sshd").ignore_ips
    assert AuditEntry.objects.count() == audit_rows
