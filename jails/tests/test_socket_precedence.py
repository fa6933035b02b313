"""Which fail2ban socket a process uses: this host's BANGUI_FAIL2BAN_SOCKET
when its environment sets it, else the /settings/ value from the shared
database (docs/fleet.md)."""

import pytest
from django.urls import reverse

from accounts.models import RuntimeSettings
from jails.live import link

pytestmark = pytest.mark.django_db


def test_the_runtime_setting_applies_when_the_environment_is_silent(settings, setup_done):
    settings.FAIL2BAN_SOCKET_FROM_ENV = False
    RuntimeSettings.objects.update_or_create(pk=1, defaults={"fail2ban_socket": "/run/x.sock"})
    assert link.socket_path() == "/run/x.sock"


def test_the_hosts_environment_wins_and_the_settings_page_says_so(settings, admin_client):
    RuntimeSettings.objects.update_or_create(pk=1, defaults={"fail2ban_socket": "/run/x.sock"})
    settings.FAIL2BAN_SOCKET_FROM_ENV = True
    settings.FAIL2BAN_SOCKET = "/run/node-a/fail2ban.sock"
    assert link.socket_path() == "/run/node-a/fail2ban.sock"

    page = admin_client.get(reverse("settings")).content.decode()
    assert "Set by BANGUI_FAIL2BAN_SOCKET in this host" in page
    assert "/run/node-a/fail2ban.sock" in page
    # Saving the other settings leaves the stored socket alone (and checks nothing).
    response = admin_client.post(reverse("settings"), {
        "fail2ban_socket": "/somewhere/else", "time_zone": "Europe/Berlin", "session_hours": 8})
    assert response.status_code in (200, 302)
    stored = RuntimeSettings.objects.get(pk=1)
    assert (stored.fail2ban_socket, stored.time_zone) == ("/run/x.sock", "Europe/Berlin")
