import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEntry, RuntimeSettings, SetupCompletion
from accounts.setup import SetupAlreadyDone, SetupValues, complete_setup, gate

PASSWORD = "a long enough passphrase 31"


def _form(socket: str, **over) -> dict:
    data = {
        "username": "root-admin", "email": "", "password1": PASSWORD, "password2": PASSWORD,
        "fail2ban_socket": socket, "time_zone": "Europe/Berlin", "session_hours": "12",
    }
    data.update(over)
    return data


@pytest.mark.django_db
def test_it_redirects_every_page_to_the_wizard_before_setup(client):
    for path in ["/", "/status/", "/audit/", "/settings/", "/login/", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == reverse("setup"), path


@pytest.mark.django_db
def test_it_shows_the_wizard_before_setup(client):
    response = client.get(reverse("setup"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="fail2ban_socket"' in body
    assert '<label for="id_time_zone">' in body


@pytest.mark.django_db
def test_it_leaves_static_and_health_paths_alone_before_setup(client):
    assert client.get("/health/live/").status_code == 404  # not redirected to the wizard
    assert client.get("/static/css/bangui.css").status_code in (200, 404)


@pytest.mark.django_db
def test_it_creates_the_admin_and_settings_and_then_disappears(client, f2b):
    response = client.post(reverse("setup"), _form(str(f2b.socket)))
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")  # the new admin is logged in
    admin = get_user_model().objects.get(username="root-admin")
    assert admin.is_superuser and admin.is_staff
    stored = RuntimeSettings.objects.get()
    assert stored.fail2ban_socket == str(f2b.socket)
    assert stored.time_zone == "Europe/Berlin"
    assert stored.session_hours == 12
    assert client.get(reverse("setup")).status_code == 404


@pytest.mark.django_db
def test_it_refuses_a_wrong_socket_path_and_saves_nothing(client, f2b, tmp_path):
    response = client.post(reverse("setup"), _form(str(tmp_path / "nope.sock")))
    assert response.status_code == 200
    body = response.content.decode()
    assert "No answer from fail2ban" in body
    assert "no socket at that path" in body
    assert not get_user_model().objects.exists()
    assert not SetupCompletion.objects.exists()
    assert not RuntimeSettings.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_relative_socket_path(client):
    response = client.post(reverse("setup"), _form("fail2ban.sock"))
    assert "absolute path" in response.content.decode()
    assert not SetupCompletion.objects.exists()


@pytest.mark.django_db
def test_it_refuses_mismatched_passwords(client, f2b):
    response = client.post(reverse("setup"), _form(str(f2b.socket), password2="other"))
    assert "The two passwords differ." in response.content.decode()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_it_refuses_an_unknown_time_zone(client, f2b):
    response = client.post(reverse("setup"), _form(str(f2b.socket), time_zone="Mars/Olympus"))
    assert response.status_code == 200
    assert not SetupCompletion.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_second_submit(client, f2b):
    client.post(reverse("setup"), _form(str(f2b.socket)))
    response = client.post(reverse("setup"), _form(str(f2b.socket), username="second"))
    assert response.status_code == 404
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["root-admin"]


@pytest.mark.django_db
def test_it_refuses_a_replayed_submit_from_a_worker_with_a_cold_cache(client, f2b):
    client.post(reverse("setup"), _form(str(f2b.socket)))
    gate().reset()  # another worker that never saw setup complete
    with pytest.raises(SetupAlreadyDone):
        complete_setup(SetupValues("second", PASSWORD, str(f2b.socket)), method="wizard")
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_it_enforces_csrf_on_the_wizard(f2b):
    response = Client(enforce_csrf_checks=True).post(reverse("setup"), _form(str(f2b.socket)))
    assert response.status_code == 403
    assert not SetupCompletion.objects.exists()


@pytest.mark.django_db
def test_it_records_setup_in_the_audit_trail(client, f2b):
    client.post(reverse("setup"), _form(str(f2b.socket)))
    entry = AuditEntry.objects.get(action="setup")
    assert entry.actor_name == "root-admin"
    assert entry.source_ip == "127.0.0.1"
    assert entry.result == "ok"


@pytest.mark.django_db(transaction=True)
def test_it_creates_exactly_one_admin_from_two_concurrent_submits(tmp_path):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(name: str) -> None:
        try:
            barrier.wait()
            # Both threads pass the cached gate; the database decides.
            complete_setup(SetupValues(name, PASSWORD, "/run/f2b.sock"), method="wizard")
            outcomes.append("created")
        except SetupAlreadyDone:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(f"admin{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["created", "refused"]
    assert get_user_model().objects.count() == 1
    assert SetupCompletion.objects.count() == 1
    assert AuditEntry.objects.filter(action="setup").count() == 1


@pytest.mark.django_db
def test_it_does_not_query_the_database_for_setup_once_complete(admin_client):
    admin_client.get(reverse("audit"))  # warms the gate
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(reverse("audit"))
    assert not any("accounts_setupcompletion" in q["sql"] for q in queries.captured_queries)
