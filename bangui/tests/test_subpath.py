"""Hosting under a sub-path (BANGUI_BASE_PATH=/bangui, docs/deployment.md).

The reverse proxy strips the prefix (nginx ``proxy_pass http://bangui/;``), so
Django sees ``/login/`` and FORCE_SCRIPT_NAME puts ``/bangui`` back into every
URL it makes: links, forms, HTMX attributes, redirects and static files.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings
from django.urls import clear_script_prefix, set_script_prefix

from conftest import TEST_PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_script_prefix")]

PREFIX = "/bangui"
SUBPATH = override_settings(FORCE_SCRIPT_NAME=PREFIX, STATIC_URL=f"{PREFIX}/static/")
# Every attribute that holds a URL the browser will fetch or go to.
URL_ATTR = re.compile(
    r'\b(?:href|src|action|hx-get|hx-post|hx-put|hx-delete|hx-patch|data-url)="(/[^"]*)"')


@pytest.fixture
def _script_prefix():
    # Django's WSGI handler sets the prefix from FORCE_SCRIPT_NAME on every
    # request (gunicorn does, see test_multiworker.py's sub-path test); the test
    # client skips that step, so do it here.
    set_script_prefix(PREFIX + "/")
    yield
    clear_script_prefix()


def _root_relative_urls(html: str) -> list[str]:
    return URL_ATTR.findall(html)


def _outside_prefix(html: str) -> list[str]:
    return [u for u in _root_relative_urls(html) if not u.startswith(PREFIX + "/")]


@SUBPATH
def test_it_redirects_anonymous_users_to_the_prefixed_login(setup_done):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == f"{PREFIX}/login/?next={PREFIX}/"


@SUBPATH
def test_it_prefixes_every_url_on_the_login_page(setup_done):
    html = Client().get("/login/").content.decode()
    urls = _root_relative_urls(html)
    assert any(u.startswith(f"{PREFIX}/static/") for u in urls)
    assert _outside_prefix(html) == []


@SUBPATH
def test_it_redirects_to_the_prefixed_dashboard_after_login(admin_user):
    client = Client()
    response = client.post("/login/", {"username": "admin", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == f"{PREFIX}/"


@SUBPATH
@pytest.mark.parametrize("path", ["/", "/jails/", "/jails/sshd/", "/map/", "/config/",
                                  "/audit/", "/settings/", "/ip/"])
def test_it_prefixes_links_and_htmx_urls_on_pages(f2b, admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 200, path
    html = response.content.decode()
    assert _root_relative_urls(html), path
    assert _outside_prefix(html) == [], path


@SUBPATH
def test_it_prefixes_urls_in_htmx_fragments(f2b, admin_client):
    response = admin_client.get("/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert _outside_prefix(response.content.decode()) == []


@SUBPATH
def test_it_prefixes_the_logout_redirect(admin_client):
    response = admin_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{PREFIX}/login/")


@SUBPATH
def test_favicon_ico_is_the_one_icon_for_anyone(setup_done):
    """It was a 404: browsers ask for it whatever the page links."""
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == f"{PREFIX}/static/img/favicon.svg"
    assert Client().post("/favicon.ico").status_code == 405
