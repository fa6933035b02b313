"""Two-factor: TOTP enrolment, the code step of a login, recovery codes,
throttling by django-axes, the audit trail and the auth log, and the
"admins must enrol" rule."""

import base64
import hashlib
import hmac
import logging
import re
import struct
import time
from io import StringIO
from types import SimpleNamespace

import pytest
from allauth.mfa.models import Authenticator
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, TestCase

from accounts.authlog import LOGGER_NAME
from accounts.models import AuditEntry
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), written here rather than taken from
    allauth, so the test checks allauth against the standard."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def log_in(client: Client, username: str, next_path: str = "/audit/"):
    return client.post(f"/login/?next={next_path}", {"username": username,
                                                     "password": TEST_PASSWORD})


def confirm_password(client: Client, redirect=None) -> None:
    """A change to the account's security asks for the password again first."""
    redirect = redirect or client.get("/accounts/2fa/totp/activate/")
    assert redirect.status_code == 302
    assert redirect["Location"].startswith("/accounts/reauthenticate/")
    confirmed = client.post(redirect["Location"], {"password": TEST_PASSWORD})
    assert confirmed.status_code == 302, confirmed.content


def enrol(client: Client, user) -> str:
    """Turn TOTP on through the pages; the secret."""
    page = client.get("/accounts/2fa/totp/activate/")
    if page.status_code == 302:
        confirm_password(client, page)
        page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page
    secret = page.context["form"].secret
    # allauth sends authenticator_added on commit (the test's transaction never commits).
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = client.post("/accounts/2fa/totp/activate/", {"code": totp(secret)})
    assert answer.status_code == 302, answer.content
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    return secret


@pytest.fixture
def enrolled(viewer_user):
    """The viewer with TOTP on, logged out again: (user, secret)."""
    client = Client()
    log_in(client, "viewer")
    secret = enrol(client, viewer_user)
    client.post("/logout/")
    return viewer_user, secret


@pytest.fixture
def auth_log_lines():
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_it_enrols_totp_and_shows_recovery_codes(viewer_user):
    client = Client()
    assert log_in(client, "viewer").status_code == 302
    confirm_password(client)
    page = client.get("/accounts/2fa/totp/activate/").content.decode()
    # The QR code is an image (CSP: img-src data:), no inline style or script.
    assert 'src="data:image/svg+xml' in page and "style=" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    enrol(client, viewer_user)
    codes = client.get("/accounts/2fa/recovery-codes/")
    assert codes.status_code == 200 and len(codes.context["unused_codes"]) >= 8
    row = AuditEntry.objects.get(action="mfa.enrol", detail="TOTP")
    assert row.actor_name == "viewer"


def test_it_refuses_a_wrong_code_when_activating(viewer_user):
    client = Client()
    log_in(client, "viewer")
    confirm_password(client)
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    answer = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert answer.status_code == 200
    assert not Authenticator.objects.filter(user=viewer_user).exists()


def test_a_login_asks_for_the_code_after_the_password(enrolled, auth_log_lines):
    _, secret = enrolled
    client = Client()
    answer = log_in(client, "viewer")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session  # not yet
    assert client.get("/audit/").status_code == 302

    wrong = client.post("/accounts/2fa/authenticate/", {"code": "123456"
                        if totp(secret) != "123456" else "654321"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    failed = AuditEntry.objects.get(action="login", result="failed")
    assert failed.detail == "wrong two-factor code" and failed.target == "user:viewer"
    assert auth_log_lines == ["failed login for user 'viewer' from 127.0.0.1"]
    assert AccessAttempt.objects.get(username="viewer").failures_since_start == 1

    right = client.post("/accounts/2fa/authenticate/", {"code": totp(secret)})
    assert right.status_code == 302 and right["Location"] == "/audit/"
    assert client.get("/audit/").status_code == 200
    ok = AuditEntry.objects.filter(action="login", result="ok").latest("created_at")
    assert ok.detail == "password + TOTP"
    assert not AccessAttempt.objects.filter(username="viewer").exists()  # reset on success


def test_a_code_of_the_step_before_logs_in_once(enrolled, monkeypatch):
    """One step of tolerance (a code typed as its 30 s end, a phone a few
    seconds off), never two; and a code that got in once never gets in again.
    allauth's clock is held in the middle of a step, so no step ends between
    the code and its check."""
    from allauth.mfa.totp.internal import auth as allauth_totp

    _, secret = enrolled
    now = (time.time() // 30) * 30 + 15
    monkeypatch.setattr(allauth_totp, "time", SimpleNamespace(time=lambda: now))
    late, stale = totp(secret, at=now - 30), totp(secret, at=now - 60)
    client = Client()
    log_in(client, "viewer")
    if stale not in {late, totp(secret, at=now), totp(secret, at=now + 30)}:
        refused = client.post("/accounts/2fa/authenticate/", {"code": stale})
        assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert client.post("/accounts/2fa/authenticate/", {"code": late}).status_code == 302
    again = Client()
    log_in(again, "viewer")
    replay = again.post("/accounts/2fa/authenticate/", {"code": late})
    assert replay.status_code == 200 and "_auth_user_id" not in again.session


def test_axes_locks_out_after_too_many_wrong_codes(enrolled, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _, secret = enrolled
    client = Client()
    log_in(client, "viewer")
    bad = "000000" if totp(secret) != "000000" else "111111"
    statuses = [client.post("/accounts/2fa/authenticate/", {"code": bad}).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert AuditEntry.objects.filter(action="lockout").exists()
    # Locked out: the right code does not get in either.
    assert client.post("/accounts/2fa/authenticate/",
                       {"code": totp(secret)}).status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_logs_in_once(enrolled):
    user, _ = enrolled
    code = Authenticator.objects.get(user=user, type="recovery_codes").wrap() \
        .get_unused_codes()[0]
    client = Client()
    log_in(client, "viewer")
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    used = AuditEntry.objects.get(action="mfa.recovery_code_used")
    assert used.detail.endswith("recovery codes left")
    ok = AuditEntry.objects.filter(action="login", result="ok").latest("created_at")
    assert ok.detail == "password + recovery code"

    client.post("/logout/")
    log_in(client, "viewer")
    again = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert again.status_code == 200 and "_auth_user_id" not in client.session


def test_it_removes_totp_and_audits_it(viewer_user):
    client = Client()
    log_in(client, "viewer")
    enrol(client, viewer_user)
    assert client.post("/accounts/2fa/totp/deactivate/").status_code == 302
    assert not Authenticator.objects.filter(user=viewer_user).exists()
    assert set(AuditEntry.objects.filter(action="mfa.remove").values_list("detail", flat=True)) \
        == {"TOTP", "recovery codes"}


def test_admins_must_enrol_when_the_setting_says_so(admin_user, viewer_user, settings):
    settings.BANGUI_MFA_REQUIRED_ROLES = ["admin"]
    admin = Client()
    log_in(admin, "admin")
    answer = admin.get("/audit/")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/2fa/totp/activate/"
    assert admin.get("/accounts/users/").status_code == 302
    enrol(admin, admin_user)
    assert admin.get("/audit/").status_code == 200

    viewer = Client()
    log_in(viewer, "viewer")
    assert viewer.get("/audit/").status_code == 200  # not a role that must enrol


def test_nobody_must_enrol_by_default(admin_user):
    client = Client()
    log_in(client, "admin")
    assert client.get("/audit/").status_code == 200


def test_an_admin_removes_a_users_two_factor_and_they_sign_in_with_the_password(
        enrolled, admin_client):
    user, _ = enrolled
    page = admin_client.get("/accounts/users/").content.decode()
    row = page[page.index('data-testid="user-viewer"'):].split("</tr>")[0]
    assert 'data-testid="two-factor"' in row and "Remove two-factor" in row
    answer = admin_client.post(f"/accounts/users/{user.pk}/two-factor/reset/", follow=True)
    assert "Removed viewer&#x27;s two-factor" in answer.content.decode()
    assert not Authenticator.objects.filter(user=user).exists()  # recovery codes too
    entry = AuditEntry.objects.get(action="mfa.reset")
    assert (entry.actor_name, entry.target) == ("admin", "user:viewer")
    # No code step any more: the password alone signs in.
    client = Client()
    assert log_in(client, "viewer")["Location"] == "/audit/"
    again = admin_client.post(f"/accounts/users/{user.pk}/two-factor/reset/", follow=True)
    assert "viewer had no two-factor." in again.content.decode()


def test_the_command_removes_a_users_two_factor(enrolled):
    user, _ = enrolled
    out = StringIO()
    call_command("users", "reset-2fa", "viewer", stdout=out)
    assert "Removed viewer's two-factor" in out.getvalue()
    assert not Authenticator.objects.filter(user=user).exists()
    assert AuditEntry.objects.filter(action="mfa.reset", actor_name__startswith="cli:").exists()


def test_only_admins_may_remove_someones_two_factor(enrolled, operator_client):
    user, _ = enrolled
    assert operator_client.post(f"/accounts/users/{user.pk}/two-factor/reset/").status_code \
        == 403
    assert Authenticator.objects.filter(user=user).exists()
