"""Operators who may edit config are root; the setting that stops it."""

from __future__ import annotations

import pytest

from accounts.roles import OPERATOR_IS_ROOT
from jails.config.files import ABSENT
from jails.tests.conftest import snapshot

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
TEXT = "[sshd]\nmaxretry = 4\n"


@pytest.fixture
def limited(cfg, settings):
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False
    return cfg


def test_limited_operators_cannot_write_config_files_or_server_settings(limited,
                                                                        operator_client):
    before = snapshot(limited.confdir)
    save = {"path": "jail.d/sshd.local", "text": TEXT, "version": ABSENT}
    assert operator_client.post("/config/file/save/", save, **HX).status_code == 403
    assert operator_client.post("/config/filters/create/", {
        "name": "mine", "failregex": "^x <HOST>$"}, **HX).status_code == 403
    assert operator_client.post("/config/server/save/", {"loglevel": "DEBUG"},
                                **HX).status_code == 403
    assert snapshot(limited.confdir) == before
    page = operator_client.get("/config/file/?path=jail.d/sshd.local").content.decode()
    assert "Save and reload" not in page


def test_limited_operators_keep_jail_settings_and_ignore_lists(limited, operator_client,
                                                              f2b_client):
    html = operator_client.post("/jails/sshd/ignore/add/", {"value": "192.0.2.0/24"},
                                **HX).content.decode()
    assert "192.0.2.0/24" in f2b_client.jail_settings("sshd").ignore_ips, html
    html = operator_client.post("/jails/sshd/settings/", {"maxretry": "6"}, **HX).content.decode()
    assert "Updated maxretry" in html


def test_superusers_still_edit_config_when_operators_are_limited(limited, admin_client):
    save = {"path": "jail.d/sshd.local", "text": TEXT, "version": ABSENT}
    response = admin_client.post("/config/file/save/", save, **HX)
    assert response.status_code == 200
    assert (limited.confdir / "jail.d" / "sshd.local").read_text() == TEXT


def test_by_default_operators_edit_config(cfg, operator_client):
    save = {"path": "jail.d/sshd.local", "text": TEXT, "version": ABSENT}
    assert operator_client.post("/config/file/save/", save, **HX).status_code == 200
    assert (cfg.confdir / "jail.d" / "sshd.local").read_text() == TEXT


def test_the_role_form_in_admin_says_an_operator_is_root(admin_client):
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="operator")
    html = admin_client.get(f"/admin/auth/group/{group.pk}/change/").content.decode()
    assert "effectively root on this host" in html
    assert "BANGUI_OPERATORS_EDIT_CONFIG" in OPERATOR_IS_ROOT
