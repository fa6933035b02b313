"""Every URL of the project, walked as a viewer (issue #24).

A viewer reads: the dashboard, jails, bans, the audit trail, fail2ban's
config files. A viewer never changes anything and never reads the host's
log files (docs/security.md, "What a viewer can see"). The walk enumerates
every URL pattern (``get_resolver``), fills its parameters with real
objects (the sandbox's sshd jail, this host's node, a blocklist, a banned
address) and asserts, signed in as a viewer:

- every POST, PUT and DELETE is refused (403, 405 for a read-only view, the
  admin's login redirect) and changes nothing: not a row in the database,
  not a file in fail2ban's config dir, not a ban, not an ignore list -- except
  the few URLs of ``VIEWER_MAY_POST`` below, each with its reason;
- no GET answers 500 (a view's exception fails the walk too);
- no answer, to any method, carries a line of a log file: every log in the
  regex tester's allowed directory holds a canary line, and every request
  names those files in every parameter a view might read a file from.

A new URL is walked without anyone adding it here; a new URL a viewer may
POST to must be added to ``VIEWER_MAY_POST`` with its reason.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from accounts.models import AuditEntry
from accounts.tests.state_changing import STATE_CHANGING
from blocklists.models import BlocklistSource
from jails.fail2ban import Fail2banClient
from jails.forms.config import LOG_FILES_NEED_CONFIG
from jails.tests.conftest import snapshot

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
CANARY = f"bangui-canary-{uuid.uuid4().hex}"
BANNED = "192.0.2.77"
JAIL = "sshd"

# URLs a viewer may POST to, by URL name (admin's with "admin:"), with why,
# and the models the POST may change (nothing else may change).
VIEWER_MAY_POST: dict[str, tuple[str, frozenset[str]]] = {
    "config_regex": ("the regex tester on pasted lines changes nothing; a log file is "
                     "refused to viewers (400 here: the walk's data names one)", frozenset()),
    "logout": ("ends the viewer's own session, audited",
               frozenset({"sessions.Session", "accounts.AuditEntry", "axes.AccessLog"})),
    "admin:logout": ("Django admin's logout: ends the viewer's own session, audited",
                     frozenset({"sessions.Session", "accounts.AuditEntry",
                                "axes.AccessLog"})),
    "login": ("public: anyone may try to sign in (the walk's data has no password: "
              "no attempt is made)", frozenset()),
    "admin:login": ("Django admin's sign-in form, public as BanGUI's", frozenset()),
    "user_set_password": ("public: where a set-password link leads; the token is the key "
                          "(the walk's is invalid: the page says so, nothing changes)",
                          frozenset()),
    "password_change": ("the viewer's own password, and only with the old one (the walk's "
                        "data has none: the form is shown again)", frozenset()),
    "api:tokens": ("a user makes API tokens for themselves, never above their role (a "
                   "viewer's reads only; the walk's data is refused)",
                   frozenset({"api.ApiToken", "accounts.AuditEntry"})),
    "api:token_revoke": ("a user revokes their own tokens (the walk's is nobody's: 404)",
                         frozenset({"api.ApiToken", "accounts.AuditEntry"})),
    "api:openapi-json": ("the API's schema, a document: django-ninja answers it to any "
                         "method and changes nothing", frozenset()),
}
# Every signed-in user manages their own second factor (docs/sso.md): each
# step asks for the password or a code first (the walk's data has neither),
# so nothing changes but the session's note of where to go next.
VIEWER_MAY_POST |= {name: ("the viewer's own two-factor: the password or a code first",
                           frozenset({"sessions.Session"}))
                    for name in ("account_reauthenticate", "mfa_authenticate",
                                 "mfa_reauthenticate", "mfa_activate_totp",
                                 "mfa_deactivate_totp", "mfa_generate_recovery_codes",
                                 "mfa_download_recovery_codes")}
VIEWER_MAY_POST |= {name: ("public: single sign-on's start and return (404 with no "
                           "provider configured, as here)", frozenset())
                    for name in ("openid_connect_login", "openid_connect_callback")}
# allauth's names for BanGUI's own pages (accounts/urls.py): walked once,
# under BanGUI's name.
ALIASES = {"account_login": "login", "account_logout": "logout"}
# A refusal: forbidden, or a view that does not take the method; the
# setup wizard is gone once set up (404); Django admin sends a non-staff
# user to its own login.
REFUSED = {403, 405}


def _fill(route: str, values: dict[str, str]) -> str:
    """A route (or an admin regex) with its parameters filled."""
    route = route.lstrip("^").rstrip("$")

    def converter(m: re.Match) -> str:
        return values.get(m.group(2), "1")

    def group(m: re.Match) -> str:
        alternatives = m.group(2)
        if re.fullmatch(r"[\w|]+", alternatives):  # (?P<app_label>auth|accounts|...)
            return alternatives.split("|")[0]
        return values.get(m.group(1), "x")

    route = re.sub(r"<(?:(\w+):)?(\w+)>", converter, route)
    return re.sub(r"\(\?P<(\w+)>([^)]*)\)", group, route)


def _urls(values_for) -> list[tuple[str, str]]:
    """(name, path) of every URL pattern; admin's names as "admin:NAME"."""
    found = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                ns = entry.namespace or namespace
                walk(entry.url_patterns, prefix + _fill(route, {}), ns)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}" if namespace else (entry.name or "")
                if name in ALIASES:
                    continue
                full = prefix + route.lstrip("^").rstrip("$")
                found.append((name, "/" + _fill(full, values_for(name, full))))

    walk(get_resolver().url_patterns, "", "")
    return found


def _db() -> dict[str, str]:
    """Every row of every table the project owns, by model."""
    state = {}
    for model in apps.get_models():
        meta = model._meta
        if not meta.managed or meta.proxy or meta.swapped:
            continue
        state[meta.label] = repr(list(model.objects.order_by("pk").values_list()))
    return state


@pytest.fixture
def walk(f2b, settings, tmp_path, viewer_user):
    settings.DATA_DIR = tmp_path / "data"
    settings.BANGUI_REGEX_LOG_DIRS = [str(f2b.logdir)]
    # A canary line in every log the tester may read, the server's own included.
    canary_log = f2b.logdir / "canary.log"
    canary_log.write_text(f"Dec  6 12:00:00 host app[1]: {CANARY} secret\n" * 3)
    for log in (f2b.server_log, f2b.log_path(JAIL)):
        with log.open("a") as fh:
            fh.write(f"Dec  6 12:00:01 host app[2]: {CANARY} in {log.name}\n")
    client = Fail2banClient(str(f2b.socket))
    client.ban(JAIL, [BANNED])
    blocklist = BlocklistSource.objects.create(name="walk", url="https://example.org/walk.txt")
    here = settings.BANGUI_NODE

    def values_for(name: str, route: str) -> dict[str, str]:
        node_page = route.startswith("nodes/") and "<str:node>" not in route
        return {"name": here if node_page else JAIL, "node": here, "ip": BANNED,
                "pk": str(blocklist.pk), "group": uuid.uuid4().hex, "object_id": "1",
                "id": str(viewer_user.pk), "content_type_id": "1", "url": "x"}

    def fail2ban_state():
        return {j: (sorted(client.banned(j)), sorted(client.ignore_list(j)),
                    client.jail_status(j)) for j in client.jail_names()}

    confdir_before = snapshot(f2b.confdir)
    state_before = fail2ban_state()
    from django.test import Client

    viewer = Client()
    viewer.force_login(viewer_user)
    relative = os.path.relpath(canary_log, f2b.confdir)
    names = {"path": relative, "log_path": str(canary_log), "file": str(canary_log),
             "log": str(canary_log), "logpath": str(canary_log), "filter": JAIL}
    yield {"client": viewer, "user": viewer_user, "urls": _urls(values_for),
           "names": names, "canary_log": canary_log}
    assert snapshot(f2b.confdir) == confdir_before, "a viewer's request changed a config file"
    assert fail2ban_state() == state_before, "a viewer's request changed fail2ban"


def _signed_in(client, user) -> None:
    if "_auth_user_id" not in client.session:  # a logout on the way
        client.force_login(user)


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def test_the_walk_covers_every_url(walk):
    urls = dict(walk["urls"])
    assert len(urls) > 150  # the project's and Django admin's
    assert set(VIEWER_MAY_POST) <= set(urls), "an allow-listed URL is gone: drop it"
    for name in ("config_regex", "config_file", "node_config_file", "node_config",
                 "config_server", "jail_detail", "node_jail_detail", "ip_detail",
                 "blocklist_detail", "audit", "settings", "admin:index"):
        assert name in urls, name
    for name, path in walk["urls"]:
        if name.startswith("admin:") and not name.endswith("_change"):
            continue  # the catch-all resolves whatever the fill produced
        match = resolve(path.split("?")[0])
        if name.startswith("api:"):  # django-ninja: one path, a name per method
            assert match.namespace == "api", (name, path)
            continue
        assert match.url_name == name.split(":")[-1], (name, path)


def test_a_viewer_changes_nothing_with_any_post_put_or_delete(walk):
    client, user = walk["client"], walk["user"]
    state_data = {a.url_name: a.data for a in STATE_CHANGING}
    generic = {"ip": "203.0.113.9", "ips": "203.0.113.9", "jail": JAIL, "value": "192.0.2.1",
               "maxretry": "5", "action": "reload", "version": "absent", "text": "[sshd]\n",
               "name": "walk2", "url": "https://example.org/y.txt", "filter_name": JAIL,
               **walk["names"]}
    problems = []
    for name, path in walk["urls"]:
        methods = ("post",) if name.startswith("admin:") else ("post", "put", "delete")
        for method in methods:
            _signed_in(client, user)
            before = _db()
            data = {**generic, **state_data.get(name, {})}
            if name.startswith("api:") and path.startswith("/api/v1/"):  # a JSON API
                response = getattr(client, method)(path, data, content_type="application/json")
            elif method == "post":
                response = client.post(path, data)
            else:
                response = getattr(client, method)(path)
            body = _body(response)
            changed = {label for label, rows in _db().items() if before.get(label) != rows}
            allowed = VIEWER_MAY_POST.get(name, ("", frozenset()))[1]
            status = response.status_code
            refused = (status in REFUSED
                       or (name == "setup" and status == 404)
                       # the API answers a method a path does not take with 404
                       or (name.startswith("api:") and status == 404)
                       or (name.startswith("admin:") and status == 302
                           and response["Location"].startswith("/admin/login/")))
            if not refused and name not in VIEWER_MAY_POST:
                problems.append(f"{method.upper()} {path} ({name}): {status}, not refused")
            if changed - allowed:
                problems.append(f"{method.upper()} {path} ({name}) changed {sorted(changed)}")
            if CANARY in body:
                problems.append(f"{method.upper()} {path} ({name}) showed a log file's line")
            if status == 500:
                problems.append(f"{method.upper()} {path} ({name}): {status}")
    assert not problems, "\n".join(problems)


def test_no_get_fails_or_shows_a_log_file_to_a_viewer(walk):
    client, user = walk["client"], walk["user"]
    problems = []
    for name, path in walk["urls"]:
        # Plainly, then naming the canary log in every parameter a view
        # might read a file from (relative for the config reader, which
        # must refuse to leave fail2ban's config dir).
        for query in ({}, walk["names"]):
            _signed_in(client, user)
            response = client.get(path, query)  # an exception fails the test
            # 500 is a crash (an exception fails the test before); a 503
            # is meant: /health/ready without a worker, a node that is down.
            if response.status_code == 500:
                problems.append(f"GET {path} {query}: {response.status_code}")
            if CANARY in _body(response):
                problems.append(f"GET {path} {query} ({name}) showed a log file's line")
    assert not problems, "\n".join(problems)
    # The walk did reach the views that read files.
    assert client.get("/config/file/", {"path": "jail.conf"}).status_code == 200
    assert client.get("/config/file/", walk["names"]).status_code == 400


def test_a_viewer_tests_pasted_lines_but_not_a_log_file(walk):
    client = walk["client"]
    page = client.get("/config/regex/").content.decode()
    assert 'name="log_path"' not in page
    assert "needs permission to edit the configuration" in page
    lines = (f"Dec  6 12:00:00 host sshd[1]: Failed password for root from {BANNED} "
             "port 22 ssh2\n")
    ok = client.post("/config/regex/", {"filter_name": JAIL, "lines": lines}, **HX)
    assert ok.status_code == 200 and "1 matched" in ok.content.decode()
    for data in ({"filter_name": JAIL, "log_path": str(walk["canary_log"])},
                 {"filter_name": JAIL, "log_path": str(walk["canary_log"]), "lines": lines},
                 {"failregex": "<HOST>", "log_path": "/var/log/syslog"}):
        refused = client.post("/config/regex/", data, **HX)
        text = refused.content.decode()
        assert refused.status_code == 400, data
        assert LOG_FILES_NEED_CONFIG in text and CANARY not in text
        assert "matched" not in text  # nothing ran


def test_who_may_edit_config_tests_a_log_file(walk, admin_client, operator_client,
                                              settings):
    canary_log = str(walk["canary_log"])
    for client in (admin_client, operator_client):
        assert 'name="log_path"' in client.get("/config/regex/").content.decode()
        response = client.post("/config/regex/", {"failregex": "<HOST>",
                                                  "log_path": canary_log}, **HX)
        assert response.status_code == 200 and CANARY in response.content.decode()
    # Operators limited to bans (BANGUI_OPERATORS_EDIT_CONFIG=0) are refused too.
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False
    refused = operator_client.post("/config/regex/", {"failregex": "<HOST>",
                                                      "log_path": canary_log}, **HX)
    assert refused.status_code == 400 and CANARY not in refused.content.decode()


def test_the_walk_would_see_a_viewer_write(walk):
    """The snapshot is not blind: a change made in the window is seen."""
    before = _db()
    AuditEntry.objects.create(actor_name="walk", action="x")
    Session.objects.all().delete()
    changed = {label for label, rows in _db().items() if before.get(label) != rows}
    assert changed == {"accounts.AuditEntry", "sessions.Session"}
