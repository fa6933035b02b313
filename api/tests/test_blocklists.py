"""Blocklist sources through the API: read them and their runs, and
"Import now" (queued to the target nodes' workers, as the page does)."""

from __future__ import annotations

from accounts.models import AuditEntry
from api.tests.conftest import bearer
from blocklists.models import BlocklistSource, ImportRun


def test_it_lists_sources_and_runs(setup_done, viewer_user, make_token, client):
    source = BlocklistSource.objects.create(name="list", url="https://example.org/l.txt")
    ImportRun.objects.create(source=source, status=ImportRun.Status.OK, newly_banned=3)
    secret = make_token(viewer_user)
    sources = client.get("/api/v1/blocklists/", **bearer(secret)).json()
    assert [(s["name"], s["last_run"]["newly_banned"]) for s in sources] == [("list", 3)]
    runs = client.get(f"/api/v1/blocklists/{source.pk}/runs/", **bearer(secret)).json()
    assert runs["count"] == 1
    assert client.get("/api/v1/blocklists/999/runs/", **bearer(secret)).status_code == 404


def test_import_now_is_queued_for_an_operator_only(setup_done, operator_user, viewer_user,
                                                   make_token, client, settings):
    source = BlocklistSource.objects.create(name="list", url="https://example.org/l.txt")
    url = f"/api/v1/blocklists/{source.pk}/import/"
    assert client.post(url, **bearer(make_token(viewer_user, "write"))).status_code == 403
    response = client.post(url, **bearer(make_token(operator_user, "write")))
    assert response.status_code == 202, response.content
    assert response.json()["queued"] == [settings.BANGUI_NODE]
    entry = AuditEntry.objects.get(action="blocklist.import")
    assert entry.actor == operator_user and entry.detail == "queued"
