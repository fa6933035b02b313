"""Own password in the app, logout in the audit trail, the lockout warning,
and the wizard logging the new admin in."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.models import AuditEntry
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_every_user_changes_their_own_password(viewer_client, viewer_user):
    page = viewer_client.get("/password/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    new = "another correct horse battery 43"
    response = viewer_client.post("/password/", {"old_password": TEST_PASSWORD,
                                                 "new_password1": new, "new_password2": new})
    assert response.status_code == 302 and response["Location"] == "/password/done/"
    viewer_user.refresh_from_db()
    assert viewer_user.check_password(new)
    assert viewer_client.get("/").status_code == 200  # still logged in


def test_a_wrong_old_password_changes_nothing(viewer_client, viewer_user):
    response = viewer_client.post("/password/", {"old_password": "wrong",
                                                 "new_password1": "x" * 20,
                                                 "new_password2": "x" * 20})
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    viewer_user.refresh_from_db()
    assert viewer_user.check_password(TEST_PASSWORD)


def test_logout_is_in_the_audit_trail(client, viewer_user):
    client.post("/login/", {"username": "viewer", "password": TEST_PASSWORD})
    client.post("/logout/")
    entry = AuditEntry.objects.filter(action="logout").get()
    assert entry.actor_name == "viewer" and entry.result == "ok"


def test_the_login_page_warns_before_the_last_attempts(client, viewer_user, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for attempt in range(1, limit):
        html = client.post("/login/", {"username": "viewer", "password": "wrong"}).content.decode()
        left = limit - attempt
        if left <= 2:
            assert f"{left} attempt{'s' if left > 1 else ''} left" in html, attempt
        else:
            assert "left before this account is locked" not in html, attempt


def test_the_wizard_logs_the_new_admin_in(client, f2b):
    response = client.post("/setup/", {
        "username": "night-admin", "password1": TEST_PASSWORD, "password2": TEST_PASSWORD,
        "email": "", "fail2ban_socket": str(f2b.socket), "time_zone": "UTC",
        "session_hours": "8"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert get_user_model().objects.get(username="night-admin").is_superuser
    assert 'data-testid="user-name"' in page.content.decode()


def test_audit_details_are_text_not_python_lists(admin_user):
    from accounts import audit

    entry = audit.record(admin_user, "jail.ignore_add", target="sshd",
                         detail=["127.0.0.1/8", "::1"])
    assert entry.detail == "127.0.0.1/8, ::1"
    assert audit.record(admin_user, "x", detail=[]).detail == "(none)"


def test_the_audit_actor_filter_finds_part_of_a_name_in_any_case(admin_client, admin_user):
    from accounts import audit

    audit.record(admin_user, "jail.stop", target="sshd")
    html = admin_client.get("/audit/?actor=ADM").content.decode()
    assert "jail.stop" in html
