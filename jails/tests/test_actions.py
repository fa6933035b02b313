"""Bans and unbans made through any BanGUI page reach the archive at once."""

import pytest
from django.urls import reverse

from jails.constants import Origin
from jails.models import BanEvent

pytestmark = pytest.mark.django_db


def test_a_ban_on_the_jail_page_is_archived_with_its_actor(operator_client, operator_user,
                                                            f2b_client):
    operator_client.post(reverse("jail_ban", args=["sshd"]), {"ips": "203.0.113.131"})
    assert "203.0.113.131" in f2b_client.jail_status("sshd").banned_ips
    event = BanEvent.objects.get(ip="203.0.113.131", jail="sshd")
    assert (event.origin, event.actor) == (Origin.MANUAL, operator_user.get_username())


def test_an_unban_on_the_jail_page_is_noted_in_the_archive(operator_client, operator_user,
                                                            f2b_client):
    operator_client.post(reverse("jail_ban", args=["sshd"]), {"ips": "203.0.113.132"})
    operator_client.post(reverse("jail_unban", args=["sshd"]), {"ip": "203.0.113.132"})
    assert "203.0.113.132" not in f2b_client.jail_status("sshd").banned_ips
    event = BanEvent.objects.get(ip="203.0.113.132", jail="sshd")
    assert event.unbanned_by == operator_user.get_username()
