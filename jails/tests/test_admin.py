import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["banevent", "syncstate"])
def test_it_lists_each_model_for_superusers(admin_client, model):
    response = admin_client.get(reverse(f"admin:jails_{model}_changelist"))
    assert response.status_code == 200


def test_the_archive_is_read_only_in_admin(admin_client):
    assert admin_client.get(reverse("admin:jails_banevent_add")).status_code == 403
