import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, RuntimeSettings
from accounts.redirects import safe_next
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

OPEN_REDIRECTS = [
    "//evil.com",
    "//evil.com/path",
    "///evil.com",
    "https://evil.com",
    "http://evil.com/",
    "https:evil.com",
    "https:/evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "javascript:alert(1)",
    "evil.com",
    "/%2F%2Fevil.com",
    "/%2f%2fevil.com",
    "%2F%2Fevil.com",
    "/%5Cevil.com",
    "/%5cevil.com",
    "/%252F%252Fevil.com",
    "/%09/evil.com",
    "/\t/evil.com",
    " //evil.com",
    "https://testserver.evil.com/",
    "http://testserver/",
]


def _login(client, username="admin", password=TEST_PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password, **extra})


def test_it_sends_anonymous_users_to_login_with_next(setup_done, client):
    response = client.get("/audit/?window=24h")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/audit/%3Fwindow%3D24h"


def test_it_logs_in_and_redirects_to_next(admin_user, client):
    response = _login(client, next="/audit/?window=24h")
    assert response.status_code == 302
    assert response["Location"] == "/audit/?window=24h"
    assert client.session[SESSION_KEY] == str(admin_user.pk)


def test_it_honours_next_from_the_query_string(admin_user, client):
    response = client.post(reverse("login") + "?next=/settings/",
                           {"username": "admin", "password": TEST_PASSWORD})
    assert response["Location"] == "/settings/"


def test_it_redirects_to_the_dashboard_without_next(admin_user, client):
    assert _login(client)["Location"] == reverse("dashboard")


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_it_refuses_every_open_redirect_variant(admin_user, client, target):
    response = _login(client, next=target)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_it_never_renders_a_foreign_next_into_the_form(setup_done, client, target):
    response = client.get(reverse("login"), {"next": target})
    assert 'name="next"' not in response.content.decode()


def test_it_accepts_plain_local_paths():
    assert safe_next("/jails/sshd/?page=2") == "/jails/sshd/?page=2"
    assert safe_next("/ip/2001%3Adb8%3A%3A1/") == "/ip/2001%3Adb8%3A%3A1/"


def test_it_shows_an_error_for_a_wrong_password(admin_user, client):
    response = _login(client, password="wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_it_sets_the_session_lifetime_from_runtime_settings(admin_user, client):
    RuntimeSettings.objects.create(session_hours=3)
    _login(client)
    assert client.session.get_expiry_age() == 3 * 3600
    assert Session.objects.count() == 1  # database sessions


def test_it_logs_out_with_post_only(admin_client):
    assert admin_client.get(reverse("logout")).status_code == 405
    response = admin_client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert admin_client.get("/").status_code == 302


def test_it_records_login_logout_and_failure(admin_user, client):
    _login(client, password="wrong", REMOTE_ADDR="198.51.100.4")
    _login(client)
    client.post(reverse("logout"))
    rows = list(AuditEntry.objects.order_by("id").values_list("action", "result", "actor_name"))
    assert rows == [("login", "failed", "anonymous"), ("login", "ok", "admin"),
                    ("logout", "ok", "admin")]
    failed = AuditEntry.objects.get(result="failed")
    assert failed.target == "user:admin"


def test_it_enforces_csrf_on_login(admin_user):
    client = Client(enforce_csrf_checks=True)
    assert _login(client).status_code == 403


def test_it_enforces_csrf_on_logout(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse("logout")).status_code == 403
