"""/api/tokens/: a user makes their own tokens (an admin: anyone's), sees
a new one once, revokes it."""

from __future__ import annotations

import hashlib

from django.test import Client

from accounts.models import AuditEntry
from api.models import ApiToken
from api.tests.conftest import bearer

PAGE = "/api/tokens/"


def test_a_new_token_is_shown_once_and_works(operator_client, operator_user, client):
    response = operator_client.post(PAGE, {"name": "ids", "scope": "write", "expires": "7",
                                           "allow": "127.0.0.0/8, ::1/128"})
    assert response.status_code == 200
    secret = response.context["issued"].secret
    html = response.content.decode()
    assert secret in html and "shown this once" in html
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert token.user == operator_user and token.scope == "write"
    assert token.allowed_networks == ["127.0.0.0/8", "::1/128"]
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in operator_client.get(PAGE).content.decode()
    assert token.prefix in operator_client.get(PAGE).content.decode()
    assert client.get("/api/v1/bans/", **bearer(secret)).status_code == 200
    assert AuditEntry.objects.get(action="api_token.create").actor == operator_user


def test_a_viewer_may_make_only_read_tokens_and_sees_only_their_own(
        viewer_client, viewer_user, operator_user, make_token):
    make_token(operator_user)
    page = viewer_client.get(PAGE)
    assert [v for v, _ in page.context["form"].fields["scope"].choices] == ["read"]
    assert list(page.context["rows"]) == []
    refused = viewer_client.post(PAGE, {"scope": "write"})
    assert refused.status_code == 400 and ApiToken.objects.count() == 1
    assert viewer_client.post(PAGE, {"scope": "read"}).status_code == 200
    assert ApiToken.objects.filter(user=viewer_user).count() == 1


def test_an_admin_makes_tokens_for_others_and_revokes_them(admin_client, viewer_user,
                                                          operator_user, make_token):
    make_token(operator_user)
    response = admin_client.post(PAGE, {"scope": "read", "owner": viewer_user.pk})
    assert response.status_code == 200
    assert ApiToken.objects.filter(user=viewer_user).exists()
    other = ApiToken.objects.get(user=operator_user)
    assert admin_client.post(f"{PAGE}{other.pk}/revoke/").status_code == 302
    other.refresh_from_db()
    assert other.state() == "revoked"


def test_nobody_revokes_anothers_token_and_the_form_needs_csrf(viewer_client, operator_user,
                                                              viewer_user, make_token):
    make_token(operator_user)
    other = ApiToken.objects.get()
    assert viewer_client.post(f"{PAGE}{other.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(viewer_user)
    assert strict.post(PAGE, {"scope": "read"}).status_code == 403
    anonymous = Client().get(PAGE)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
