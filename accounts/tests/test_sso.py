"""Single sign-on against a real OpenID Connect provider process on loopback
(accounts/tests/oidc_provider/serve.py: signed ID tokens, PKCE enforced):
login, the role from the groups claim, refusals."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model

from accounts import roles
from accounts.models import AuditEntry
from bangui import settings as bangui_settings
from bangui.env import ImproperEnv
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

START = "/accounts/oidc/sso/login/"


def sso_login(client, provider, sub: str, next_path: str = ""):
    """Press the SSO button, log in at the provider, follow the callback.
    Returns (the authorization URL BanGUI sent the browser to, the callback's answer)."""
    start = client.post(START, {"next": next_path} if next_path else {})
    assert start.status_code == 302, start.content
    callback = urlsplit(provider.authorize(start["Location"], sub))
    return start["Location"], client.get(f"{callback.path}?{callback.query}")


def _user(username: str):
    return get_user_model().objects.get(username=username)


def test_it_shows_nothing_of_sso_without_settings(client, setup_done):
    page = client.get("/login/").content.decode()
    assert "Log in with" not in page and START not in page
    assert client.post(START).status_code == 404


def test_it_shows_the_sso_button_beside_the_password_form(client, setup_done, sso):
    page = client.get("/login/?next=/audit/").content.decode()
    assert f'action="{START}"' in page and "Log in with Company SSO" in page
    assert 'name="password"' in page  # local login stays


def test_it_logs_in_with_the_role_from_the_groups_claim(client, setup_done, sso):
    sso.user("alice-sub", preferred_username="alice", email="alice@example.org",
             groups=["staff", "bangui-ops", "unrelated"])
    authorize_url, answer = sso_login(client, sso, "alice-sub", next_path="/audit/")

    assert answer.status_code == 302 and answer["Location"] == "/audit/"
    alice = _user("alice")
    assert roles.role_of(alice) == "operator"  # the highest matching role
    assert not alice.has_usable_password()
    assert client.get("/audit/").status_code == 200
    # PKCE (S256) and state went out (and the provider enforces PKCE).
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0]
    created = AuditEntry.objects.get(action="user.create", target="user:alice")
    assert created.actor_name == "sso:sso" and "role operator" in created.detail
    login = AuditEntry.objects.get(action="login", result="ok", target="user:alice")
    assert login.detail == "single sign-on"


def test_the_provider_refuses_a_client_without_pkce(sso):
    # What makes the login above a proof of PKCE.
    response = requests.get(f"{sso.url}/oauth2/authorize", timeout=10, params={
        "client_id": "bangui", "response_type": "code", "scope": "openid", "nonce": "n",
        "redirect_uri": "http://testserver/cb", "state": "s"})
    assert response.status_code == 400 and "PKCE" in response.text


def test_it_refuses_a_user_in_no_mapped_group_and_creates_nothing(client, setup_done, sso):
    sso.user("mallory-sub", preferred_username="mallory", groups=["contractors"])
    users_before = get_user_model().objects.count()
    _, answer = sso_login(client, sso, "mallory-sub")

    assert answer.status_code == 403
    body = answer.content.decode()
    assert "in no group that gives a BanGUI role" in body and "contractors" in body
    assert get_user_model().objects.count() == users_before
    assert "_auth_user_id" not in client.session
    refused = AuditEntry.objects.get(action="login", result="failed")
    assert refused.detail.startswith("single sign-on refused: ")


def test_it_refuses_a_user_without_any_groups_claim(client, setup_done, sso):
    sso.user("nogroups-sub", preferred_username="nogroups")
    _, answer = sso_login(client, sso, "nogroups-sub")
    assert answer.status_code == 403 and "no groups" in answer.content.decode()
    assert not get_user_model().objects.filter(username="nogroups").exists()


def test_it_applies_the_role_again_at_every_login(client, setup_done, sso, admin_user):
    sso.user("bob-sub", preferred_username="bob", groups=["bangui-admins"])
    sso_login(client, sso, "bob-sub")
    assert roles.role_of(_user("bob")) == "admin"

    client.post("/logout/")
    sso.user("bob-sub", preferred_username="bob", groups=["helpdesk"])  # removed in the IdP
    _, answer = sso_login(client, sso, "bob-sub")
    assert answer.status_code == 302
    assert roles.role_of(_user("bob")) == "support"
    change = AuditEntry.objects.get(action="user.role", target="user:bob")
    assert change.detail == "admin -> support" and change.actor_name == "sso:sso"

    client.post("/logout/")
    sso.user("bob-sub", preferred_username="bob", groups=[])  # no group left: no login
    _, answer = sso_login(client, sso, "bob-sub")
    assert answer.status_code == 403 and "_auth_user_id" not in client.session


def test_it_refuses_a_disabled_user(client, setup_done, sso):
    sso.user("carol-sub", preferred_username="carol", groups=["staff"])
    sso_login(client, sso, "carol-sub")
    client.post("/logout/")
    carol = _user("carol")
    carol.is_active = False
    carol.save()
    _, answer = sso_login(client, sso, "carol-sub")
    assert answer.status_code == 403 and "disabled" in answer.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_never_logs_into_a_local_user_of_the_same_name(client, setup_done, sso,
                                                          viewer_user):
    sso.user("impostor-sub", preferred_username="viewer", email=viewer_user.email or "v@x",
             groups=["bangui-admins"])
    sso_login(client, sso, "impostor-sub")
    viewer_user.refresh_from_db()
    assert roles.role_of(viewer_user) == "viewer"  # untouched
    sso_user = get_user_model().objects.get(socialaccount__uid="impostor-sub")
    assert sso_user.pk != viewer_user.pk and sso_user.username != "viewer"


def test_local_login_can_be_turned_off(client, setup_done, sso, viewer_user, settings):
    settings.BANGUI_LOCAL_LOGIN = False
    page = client.get("/login/").content.decode()
    assert "Log in with Company SSO" in page and 'name="password"' not in page
    answer = client.post("/login/", {"username": "viewer", "password": TEST_PASSWORD})
    assert answer.status_code == 403 and "_auth_user_id" not in client.session


# --- the settings ---------------------------------------------------------------------
def test_settings_know_the_roles():
    assert bangui_settings._ROLE_NAMES == roles.ROLES


def test_it_reads_the_role_map(monkeypatch):
    # The role is after the last "=", so a group may hold one (cn=Ops).
    monkeypatch.setenv("X_MAP", "bangui-admins=admin, ops = operator,cn=Help=support")
    assert bangui_settings._role_map("X_MAP") == {
        "bangui-admins": "admin", "ops": "operator", "cn=Help": "support"}


@pytest.mark.parametrize("value", ["admins", "admins=root", "=admin"])
def test_it_rejects_a_bad_role_map(monkeypatch, value):
    monkeypatch.setenv("X_MAP", value)
    with pytest.raises(ImproperEnv):
        bangui_settings._role_map("X_MAP")
