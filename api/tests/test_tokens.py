"""Tokens: stored as a hash, shown once, refused when expired, revoked,
unknown or used from elsewhere; the CLI's exact interface."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry
from api.models import ApiToken
from api.tests.conftest import bearer

BANS = "/api/v1/bans/"


def api_token(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("api_token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def test_it_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(
        operator_user, client):
    lines = api_token("create", "--user", "operator", "--scope", "write", "--expires", "30",
                      "--allow", "127.0.0.0/8", "--name", "ids")
    secret = lines[-1]
    assert secret.startswith("bgi_") and " " not in secret and len(secret) > 40
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert token.scope == "write" and token.name == "ids"
    assert token.allowed_networks == ["127.0.0.0/8"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    stored = [str(v) for v in ApiToken.objects.values_list(flat=False).get()]
    assert not any(secret in value for value in stored)
    assert secret.split("_", 2)[2] not in "".join(stored)
    assert AuditEntry.objects.filter(action="api_token.create").exists()
    # it works, and is never shown again
    assert client.get(BANS, **bearer(secret)).status_code == 200
    listing = "\n".join(api_token("list"))
    assert token.prefix in listing and secret not in listing and "127.0.0.1" in listing


def test_it_refuses_a_bad_create(operator_user):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        api_token("create", "--user", "nobody", "--scope", "read")
    with pytest.raises(CommandError, match="not an IP network"):
        api_token("create", "--user", "operator", "--scope", "read", "--allow", "10.0.0.999/8")
    with pytest.raises(CommandError):
        api_token("create", "--user", "operator", "--scope", "admin")
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_refused_with_401(operator_user, make_token, client):
    secret = make_token(operator_user)
    token = ApiToken.objects.get()
    assert client.get(BANS, **bearer(secret)).status_code == 200
    assert api_token("revoke", str(token.pk))[-1].startswith(f"Revoked token #{token.pk}")
    response = client.get(BANS, **bearer(secret))
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "this token is revoked"}
    assert response["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(CommandError, match="no token #999"):
        api_token("revoke", "999")


def test_an_expired_token_is_refused_with_401(operator_user, make_token, client):
    secret = make_token(operator_user, "write", days=1)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(BANS, **bearer(secret))
    assert response.status_code == 401
    assert response.json()["detail"] == "this token is expired"


@pytest.mark.parametrize("header", ["Bearer bgi_00000000_nope", "Bearer nonsense",
                                    "Bearer "])
def test_an_unknown_token_is_refused_with_401(setup_done, client, header):
    response = client.get(BANS, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}


def test_a_token_whose_owner_is_disabled_is_refused(operator_user, make_token, client):
    secret = make_token(operator_user)
    operator_user.is_active = False
    operator_user.save()
    assert client.get(BANS, **bearer(secret)).status_code == 401


def test_no_credentials_is_401_as_json_not_a_login_redirect(setup_done, client):
    response = client.get(BANS)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    strict = Client(enforce_csrf_checks=True)  # not a CSRF 403: nobody is signed in
    response = strict.post(BANS, data="{}", content_type="application/json")
    assert response.status_code == 401


def test_a_method_an_endpoint_lacks_is_a_json_405(operator_user, make_token, client):
    response = client.put(BANS, data="{}", content_type="application/json",
                          **bearer(make_token(operator_user)))
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "POST", "DELETE"}


def test_a_token_is_refused_outside_its_networks(operator_user, make_token, client):
    secret = make_token(operator_user, allow=["10.0.0.0/8", "2001:db8::/32"])
    response = client.get(BANS, REMOTE_ADDR="192.0.2.1", **bearer(secret))
    assert response.status_code == 403
    assert "may not be used from 192.0.2.1" in response.json()["detail"]
    assert client.get(BANS, REMOTE_ADDR="10.1.2.3", **bearer(secret)).status_code == 200


def test_its_use_is_noted_once_a_minute_with_the_address(operator_user, make_token, client):
    secret = make_token(operator_user)
    client.get(BANS, REMOTE_ADDR="127.0.0.9", **bearer(secret))
    token = ApiToken.objects.get()
    assert token.last_used_ip == "127.0.0.9" and token.last_used_at is not None
    first = token.last_used_at
    client.get(BANS, REMOTE_ADDR="127.0.0.9", **bearer(secret))
    assert ApiToken.objects.get().last_used_at == first


def test_a_token_is_rate_limited_per_minute(operator_user, make_token, client, settings):
    settings.BANGUI_API_RATE_LIMIT = 2
    secret = make_token(operator_user)
    assert [client.get(BANS, **bearer(secret)).status_code for _ in range(2)] == [200, 200]
    response = client.get(BANS, **bearer(secret))
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 61
    other = make_token(operator_user)  # another token has its own count
    assert client.get(BANS, **bearer(other)).status_code == 200
