"""handler500 (bangui.views.server_error): a database that is busy or
restarting answers 503 with Retry-After and says so; anything else is the
500 page. Both from the one stand-alone template."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import path


def _locked(request):
    raise OperationalError("database is locked")  # a fault a real server shows only by chance


def _broken(request):
    raise RuntimeError("a bug")


urlpatterns = [path("locked/", _locked), path("broken/", _broken)]
handler500 = "bangui.views.server_error"

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def client_without_raise(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    return client


def test_a_busy_database_is_a_503_that_says_try_again(client_without_raise, settings):
    settings.DEBUG = False
    response = client_without_raise.get("/locked/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    html = response.content.decode()
    assert "503</span> Busy, try again" in html
    assert "database is busy or restarting" in html
    assert "Server error" not in html


def test_any_other_failure_is_the_500_page(client_without_raise, settings):
    settings.DEBUG = False
    response = client_without_raise.get("/broken/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "500</span> Server error" in html and "busy" not in html
