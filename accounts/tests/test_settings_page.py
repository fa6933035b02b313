import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, RuntimeSettings
from jails.live import link

pytestmark = pytest.mark.django_db


def _post(client, socket, **over):
    data = {"fail2ban_socket": socket, "time_zone": "America/New_York", "session_hours": "4"}
    data.update(over)
    return client.post(reverse("settings"), data)


def test_it_shows_the_values_in_effect(admin_client, f2b):
    body = admin_client.get(reverse("settings")).content.decode()
    assert str(f2b.socket) in body
    assert '<label for="id_fail2ban_socket">' in body


def test_it_saves_valid_settings(admin_client, f2b):
    response = _post(admin_client, str(f2b.socket))
    assert response.status_code == 302
    stored = RuntimeSettings.objects.get()
    assert (stored.time_zone, stored.session_hours) == ("America/New_York", 4)


def test_it_refuses_a_dead_socket_and_keeps_the_old_value(admin_client, f2b, tmp_path):
    _post(admin_client, str(f2b.socket))
    response = _post(admin_client, str(tmp_path / "dead.sock"), time_zone="UTC")
    assert response.status_code == 200
    assert "No answer from fail2ban" in response.content.decode()
    stored = RuntimeSettings.objects.get()
    assert stored.fail2ban_socket == str(f2b.socket)
    assert stored.time_zone == "America/New_York"


def test_it_refuses_an_out_of_range_session_lifetime(admin_client, f2b):
    response = _post(admin_client, str(f2b.socket), session_hours="0")
    assert response.status_code == 200
    assert not RuntimeSettings.objects.exists()


def test_it_points_the_fail2ban_link_at_the_new_socket(admin_client, f2b, settings):
    settings.FAIL2BAN_SOCKET = "/nonexistent/fail2ban.sock"
    assert link.socket_path() == "/nonexistent/fail2ban.sock"
    _post(admin_client, str(f2b.socket))
    assert link.socket_path() == str(f2b.socket)
    assert f"fail2ban {f2b.version()}" in admin_client.get("/").content.decode()


def test_it_activates_the_time_zone_per_request(admin_client, f2b):
    _post(admin_client, str(f2b.socket), time_zone="Asia/Kolkata")
    response = admin_client.get(reverse("audit"))
    assert "IST" in response.content.decode()  # audit times shown in the zone
    assert timezone.get_current_timezone_name() != "Asia/Kolkata"  # reset after the request


def test_it_records_changes_in_the_audit_trail(admin_client, f2b):
    _post(admin_client, str(f2b.socket))
    entry = AuditEntry.objects.get(action="settings.change", result="ok")
    assert entry.actor_name == "admin"
    assert "time_zone" in entry.detail and "America/New_York" in entry.detail


def test_it_records_refused_changes(admin_client, f2b):
    _post(admin_client, str(f2b.socket), session_hours="0")
    assert AuditEntry.objects.get(action="settings.change").result == "failed"


def test_it_is_forbidden_to_operators(operator_client):
    assert operator_client.get(reverse("settings")).status_code == 403
