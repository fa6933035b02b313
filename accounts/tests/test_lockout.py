import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from accounts.models import AuditEntry
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def _attempt(client, password, username="admin", ip="198.51.100.20"):
    return client.post(reverse("login"), {"username": username, "password": password},
                       REMOTE_ADDR=ip)


def test_it_locks_out_after_the_failure_limit(admin_user, client):
    for _ in range(2):
        assert _attempt(client, "wrong").status_code == 200
    response = _attempt(client, "wrong")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()


def test_it_refuses_even_the_right_password_while_locked(admin_user, client):
    for _ in range(3):
        _attempt(client, "wrong")
    assert _attempt(client, TEST_PASSWORD).status_code == 429


def test_it_says_when_to_retry(admin_user, client):
    for _ in range(2):
        _attempt(client, "wrong")
    body = _attempt(client, "wrong").content.decode()
    assert "Try again after" in body
    assert "about 15 minutes" in body


def test_it_locks_an_ip_that_tries_many_usernames(admin_user, client):
    for name in ("alice", "bob", "carol"):
        _attempt(client, "wrong", username=name)
    assert _attempt(client, TEST_PASSWORD).status_code == 429


def test_it_does_not_lock_other_addresses(admin_user, client):
    for _ in range(3):
        _attempt(client, "wrong")
    assert _attempt(client, TEST_PASSWORD, ip="198.51.100.99").status_code == 302


def test_it_unlocks_when_an_admin_deletes_the_attempts(admin_user, client):
    for _ in range(3):
        _attempt(client, "wrong")
    AccessAttempt.objects.all().delete()  # what "delete" in Django admin does
    assert _attempt(client, TEST_PASSWORD).status_code == 302


def test_it_records_the_lockout(admin_user, client):
    for _ in range(3):
        _attempt(client, "wrong")
    entry = AuditEntry.objects.get(action="lockout")
    assert entry.result == "failed"
    assert entry.source_ip == "198.51.100.20"


def test_it_offers_unlocking_in_django_admin(admin_client, client):
    for _ in range(3):
        _attempt(client, "wrong")
    assert admin_client.get("/admin/axes/accessattempt/").status_code == 200
