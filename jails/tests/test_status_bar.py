import pytest
from django.urls import reverse

from conftest import wait_for

pytestmark = pytest.mark.django_db


def test_it_shows_live_counts(admin_client, f2b):
    f2b.write_failures("sshd", "192.0.2.10", 3)
    from jails.fail2ban import Fail2banClient

    c = Fail2banClient(str(f2b.socket))
    assert wait_for(lambda: c.jail_status("sshd").currently_banned == 1)
    response = admin_client.get(reverse("status_bar"))
    assert response.status_code == 200
    body = response.content.decode()
    assert f"fail2ban {f2b.version()}" in body
    assert "2 jails running" in body
    assert '<span data-testid="banned-now">1</span> banned now' in body


def test_it_shows_unreachable_and_recovers(admin_client, f2b):
    f2b.stop()
    response = admin_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert "fail2ban unreachable" in response.content.decode()
    f2b.start()
    response = admin_client.get(reverse("dashboard"))
    assert f"fail2ban {f2b.version()}" in response.content.decode()


def test_dashboard_fragment_varies_on_htmx(admin_client, f2b):
    full = admin_client.get(reverse("dashboard"))
    fragment = admin_client.get(reverse("dashboard"), HTTP_HX_REQUEST="true")
    assert "<html" in full.content.decode()
    assert "<html" not in fragment.content.decode()
    assert 'id="ban-table"' in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]
    assert "HX-Request" in full["Vary"]
