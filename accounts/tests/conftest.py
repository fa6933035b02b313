"""The support role's user (the viewer, operator and admin ones are in the
top-level conftest.py)."""

from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from conftest import TEST_PASSWORD


def ensure_roles() -> None:
    """The role groups, after a transactional test's flush removed them."""
    if not Group.objects.filter(name="support").exists():
        import_module("accounts.migrations.0002_roles").create_roles(apps, None)
        import_module("accounts.migrations.0006_support_role").create_support(apps, None)


@pytest.fixture
def support_user(setup_done, django_user_model):
    ensure_roles()
    user = django_user_model.objects.create_user(username="support", password=TEST_PASSWORD)
    user.groups.add(Group.objects.get(name="support"))
    return user


@pytest.fixture
def support_client(support_user):
    from django.test import Client

    client = Client()
    client.force_login(support_user)
    return client
