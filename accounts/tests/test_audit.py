import re
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_it_records_a_user_with_the_request_address(admin_user):
    request = RequestFactory().post("/x/", REMOTE_ADDR="192.0.2.5")
    request.user = admin_user
    entry = audit.record(request, "ban", target="sshd 203.0.113.9")
    assert (entry.actor, entry.actor_name, entry.source_ip) == (admin_user, "admin", "192.0.2.5")
    assert entry.result == "ok"


def test_it_records_a_named_non_user_actor(db):
    entry = audit.record("cli:root", "unban", target="203.0.113.9", result="failed",
                         detail="not banned")
    assert entry.actor is None and entry.actor_name == "cli:root"
    assert entry.source_ip is None


def test_it_refuses_an_unknown_result(db):
    with pytest.raises(ValueError):
        audit.record("system", "x", result="maybe")


def test_it_keeps_the_name_when_the_user_is_deleted(admin_user):
    entry = audit.record(admin_user, "ban")
    admin_user.delete()
    entry.refresh_from_db()
    assert entry.actor is None and entry.actor_name == "admin"


def test_it_uses_the_forwarded_address_behind_a_trusted_proxy(settings, admin_user):
    settings.BANGUI_PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1",
                                   HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.50")
    request.user = admin_user
    assert audit.record(request, "ban").source_ip == "203.0.113.50"


def test_it_lists_entries_newest_first(viewer_client):
    audit.record("system", "tick", target="t-first")
    audit.record("system", "tick", target="t-second")
    body = viewer_client.get(reverse("audit")).content.decode()
    assert body.index("t-second") < body.index("t-first")


def test_it_filters_by_actor_action_and_window(viewer_client):
    audit.record("alice", "ban", target="t-alice-ban")
    audit.record("bob", "ban", target="t-bob-ban")
    audit.record("alice", "unban", target="t-alice-unban")
    old = audit.record("alice", "ban", target="t-alice-old")
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    body = viewer_client.get(reverse("audit"), {"actor": "alice", "action": "ban",
                                                "window": "24h"}).content.decode()
    assert "t-alice-ban" in body
    assert "t-bob-ban" not in body and "t-alice-unban" not in body and "t-alice-old" not in body
    body = viewer_client.get(reverse("audit"), {"actor": "alice", "action": "ban",
                                                "window": "7d"}).content.decode()
    assert "t-alice-old" in body


def test_it_paginates(viewer_client):
    AuditEntry.objects.bulk_create(
        AuditEntry(actor_name="system", action="tick", target=f"n{i:03d}") for i in range(60)
    )
    first = viewer_client.get(reverse("audit")).content.decode()
    second = viewer_client.get(reverse("audit"), {"page": 2}).content.decode()
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert "Older" in first and "Newer" in second


def test_it_serves_the_rows_fragment_to_htmx(viewer_client):
    audit.record("system", "tick")
    full = viewer_client.get(reverse("audit"))
    fragment = viewer_client.get(reverse("audit"), HTTP_HX_REQUEST="true")
    assert "<html" in full.content.decode()
    assert "<html" not in fragment.content.decode()
    assert fragment.content.decode().lstrip().startswith('<section id="audit-rows">')
    assert "HX-Request" in fragment["Vary"]


def test_it_explains_an_empty_trail(viewer_client):
    AuditEntry.objects.all().delete()
    body = viewer_client.get(reverse("audit"), {"action": ""}).content.decode()
    assert "No audit entries match" in body


def test_it_is_read_only_in_django_admin(admin_client):
    entry = audit.record("system", "tick")
    assert admin_client.get("/admin/accounts/auditentry/").status_code == 200
    assert admin_client.get("/admin/accounts/auditentry/add/").status_code == 403
    response = admin_client.post(f"/admin/accounts/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_its_export_links_carry_the_pages_filters_and_export_those_rows(viewer_client):
    audit.record("alice", "ban", target="t-alice-ban")
    audit.record("bob", "ban", target="t-bob-ban")
    body = viewer_client.get(reverse("audit"), {"actor": "alice", "window": "24h"}
                             ).content.decode()
    link = re.search(r'href="(/api/v1/audit/export\.csv\?[^"]+)"', body).group(1)
    assert "actor=alice" in link and "window=24h" in link
    exported = b"".join(viewer_client.get(link.replace("&amp;", "&")).streaming_content)
    assert b"t-alice-ban" in exported and b"t-bob-ban" not in exported
