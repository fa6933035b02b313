import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["blocklistsource", "importrun"])
def test_it_lists_each_model_for_superusers(admin_client, model):
    response = admin_client.get(reverse(f"admin:blocklists_{model}_changelist"))
    assert response.status_code == 200


def test_the_import_log_is_read_only_in_admin(admin_client):
    assert admin_client.get(reverse("admin:blocklists_importrun_add")).status_code == 403
