import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from accounts.tests.state_changing import STATE_CHANGING

pytestmark = pytest.mark.django_db

# Reachable without login: the login page itself, the setup wizard (404 after
# setup), health probes, metrics (their own token or allow-list), static
# files, and Django admin (its own login).
PUBLIC_PREFIXES = ("/login/", "/setup/", "/health/", "/metrics", "/static/", "/admin/",
                   "/favicon.ico")  # a redirect to the static icon
_SAMPLE = {"int": "1", "str": "sample", "slug": "sample", "path": "sample/x",
           "uuid": "00000000-0000-0000-0000-000000000000"}


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
    return sorted({p for p in _concrete_paths() if not p.startswith(PUBLIC_PREFIXES)})


def test_it_creates_the_viewer_and_operator_roles():
    operator = Group.objects.get(name="operator")
    viewer = Group.objects.get(name="viewer")
    assert {p.codename for p in operator.permissions.all()} == {"operate"}
    assert not viewer.permissions.exists()


def test_it_gives_operators_operate_but_not_settings(operator_user, viewer_user, admin_user):
    assert operator_user.has_perm("accounts.operate")
    assert not operator_user.has_perm("accounts.manage_settings")
    assert not viewer_user.has_perm("accounts.operate")
    assert admin_user.has_perm("accounts.operate")
    assert admin_user.has_perm("accounts.manage_settings")


def test_it_finds_urls_to_check():
    paths = _protected_paths()
    assert "/" in paths and "/audit/" in paths and "/settings/" in paths
    for path in paths:
        resolve(path)


def test_it_sends_anonymous_users_to_login_on_every_url(setup_done, client):
    for path in _protected_paths():
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 302, (method.__name__, path)
            assert response["Location"].startswith("/login/?next="), path


@pytest.mark.parametrize("action", STATE_CHANGING, ids=str)
def test_it_forbids_viewers_every_state_changing_url(viewer_client, action):
    assert viewer_client.post(action.url(), action.data).status_code == 403


@pytest.mark.parametrize("action", STATE_CHANGING, ids=str)
def test_it_forbids_users_without_the_permission(operator_client, viewer_client, action):
    client = viewer_client if action.permission == "accounts.operate" else operator_client
    assert client.post(action.url(), action.data).status_code == 403


@pytest.mark.parametrize("action", STATE_CHANGING, ids=str)
def test_it_sends_anonymous_state_changes_to_login(setup_done, client, action):
    response = client.post(action.url(), action.data)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("action", STATE_CHANGING, ids=str)
def test_it_enforces_csrf_on_every_state_changing_url(admin_user, action):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(action.url(), action.data).status_code == 403


def test_it_lets_viewers_read_the_audit_trail(viewer_client):
    assert viewer_client.get("/audit/").status_code == 200


def test_it_shows_nav_links_per_role(viewer_client, admin_client):
    viewer_page = viewer_client.get("/audit/").content.decode()
    admin_page = admin_client.get("/audit/").content.decode()
    assert 'href="/settings/"' not in viewer_page
    assert 'href="/settings/"' in admin_page
    for body in (viewer_page, admin_page):
        assert 'href="/audit/"' in body
        assert 'action="/logout/"' in body
