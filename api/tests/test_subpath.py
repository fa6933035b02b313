"""Under a sub-path (BANGUI_BASE_PATH, docs/deployment.md) the API's links
(the next page, a command's poll) carry the prefix."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import clear_script_prefix, set_script_prefix

from api.tests.conftest import bearer
from api.tests.test_bans import archived, post

PREFIX = "/bangui"


@pytest.fixture
def subpath():
    set_script_prefix(PREFIX + "/")  # as Django's WSGI handler does from FORCE_SCRIPT_NAME
    with override_settings(FORCE_SCRIPT_NAME=PREFIX):
        yield
    clear_script_prefix()


def test_links_carry_the_prefix(subpath, f2b, operator_user, make_token, client):
    archived(3)
    secret = make_token(operator_user, "write")
    body = client.get("/api/v1/bans/", {"per_page": 1}, **bearer(secret)).json()
    assert body["next"].startswith(f"http://testserver{PREFIX}/api/v1/bans/?")
    answer = post(client, secret, {"jail": "sshd", "ip": "192.0.2.71"}).json()
    assert answer["poll"] == f"{PREFIX}/api/v1/commands/{answer['group']}/"
