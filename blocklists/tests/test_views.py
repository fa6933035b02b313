"""Blocklist pages: sources, their schedules, preview, import now."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.conf import Conf
from django_q.models import Schedule

from accounts.models import AuditEntry
from blocklists import schedules
from blocklists.models import BlocklistSource, ImportRun
from jails.config.jail import BANGUI_JAILS

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_lists(settings):
    settings.BLOCKLIST_ALLOW_PRIVATE = True
    settings.BLOCKLIST_TIMEOUT = 2


@pytest.fixture
def sync_tasks(monkeypatch):
    """Run queued tasks in-process, as the single worker would."""
    monkeypatch.setattr(Conf, "SYNC", True)


def create(client, http_server, name="list", path="/list.txt", jail="sshd"):
    return client.post(reverse("blocklist_new"), {
        "name": name, "url": http_server.base + path, "enabled": "on",
        "interval_minutes": "60", "jail": jail,
    })


def test_it_lists_sources_with_an_empty_state(viewer_client):
    response = viewer_client.get(reverse("blocklist_list"))
    assert response.status_code == 200
    assert "No blocklist sources yet." in response.content.decode()
    assert "Add a source" not in response.content.decode()  # viewers cannot


def test_creating_disabling_and_deleting_decide_what_is_due(
        operator_client, http_server, local_lists, settings):
    """No schedule row per source: this node's minute look
    (schedules.due) sees a new source at once, a disabled one not, a
    deleted one never again."""
    response = create(operator_client, http_server)
    assert response.status_code == 302
    source = BlocklistSource.objects.get(name="list")
    # A single host: "every node" is this host's node (no node registered yet).
    assert schedules.due() == [source]
    assert not Schedule.objects.filter(name__startswith="blocklist:").exists()

    operator_client.post(reverse("blocklist_toggle", args=[source.pk]))
    assert schedules.due() == []  # paused
    operator_client.post(reverse("blocklist_toggle", args=[source.pk]))
    assert schedules.due() == [BlocklistSource.objects.get()]

    operator_client.post(reverse("blocklist_delete", args=[source.pk]))
    assert schedules.due() == []
    assert not BlocklistSource.objects.exists()
    actions = list(AuditEntry.objects.filter(action__startswith="blocklist.")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["blocklist.create", "blocklist.disable", "blocklist.enable",
                       "blocklist.delete"]


def test_a_private_url_is_refused_on_the_form(operator_client, settings):
    settings.BLOCKLIST_ALLOW_PRIVATE = False
    response = operator_client.post(reverse("blocklist_new"), {
        "name": "lan", "url": "http://192.168.1.10/list.txt", "interval_minutes": "60",
        "jail": "sshd"})
    assert response.status_code == 200
    assert "private address" in response.content.decode()
    assert not BlocklistSource.objects.exists()


def test_preview_counts_without_banning(operator_client, f2b_client, http_server,
                                        local_lists):
    http_server.add("/list.txt", body=b"203.0.113.101\nnope\n203.0.113.102\n")
    response = operator_client.post(reverse("blocklist_preview"),
                                    {"url": http_server.base + "/list.txt"})
    body = response.content.decode()
    assert "2 valid</strong>, 1 invalid" in body
    assert "203.0.113.101" in body
    assert f2b_client.jail_status("sshd").banned_ips == []


def test_preview_of_garbage_says_why(operator_client, http_server, local_lists):
    http_server.add("/blob", body=b"\x00\x01\x02")
    response = operator_client.post(reverse("blocklist_preview"),
                                    {"url": http_server.base + "/blob"})
    assert "Preview failed: the download is binary data" in response.content.decode()


def test_import_now_runs_in_the_worker_and_logs(operator_client, f2b_client, http_server,
                                                local_lists, sync_tasks):
    http_server.add("/list.txt", body=b"203.0.113.111\n203.0.113.112\n")
    create(operator_client, http_server)
    source = BlocklistSource.objects.get()
    response = operator_client.post(reverse("blocklist_import", args=[source.pk]))
    assert response.status_code == 302
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.OK, run.error
    assert run.newly_banned == 2
    assert sorted(f2b_client.jail_status("sshd").banned_ips) == ["203.0.113.111",
                                                                  "203.0.113.112"]
    page = operator_client.get(reverse("blocklist_list")).content.decode()
    assert 'data-testid="import-runs"' in page


def test_the_import_log_fragment_varies_on_htmx(operator_client):
    full = operator_client.get(reverse("blocklist_list"))
    fragment = operator_client.get(reverse("blocklist_list"), HTTP_HX_REQUEST="true")
    assert "<html" in full.content.decode()
    assert fragment.content.decode().lstrip().startswith('<section id="import-log"')
    assert "HX-Request" in fragment["Vary"]


def _published(name="a", jails=("sshd",)):
    """A node that has published its running jails (nodes' facts)."""
    from datetime import timedelta

    from django.utils import timezone

    from nodes.models import Node
    now = timezone.now()
    return Node.objects.create(name=name, holder=f"{name}:1:x", heartbeat_at=now,
                               expires_at=now + timedelta(seconds=30), facts_at=now,
                               fail2ban_up=True, jails=list(jails))


def test_the_schedule_reads_in_words_on_the_list_and_the_detail(operator_client):
    source = BlocklistSource.objects.create(name="l", url="https://example.org/l.txt",
                                            interval_minutes=360)
    odd = BlocklistSource.objects.create(name="m", url="https://example.org/m.txt",
                                         interval_minutes=90)
    page = operator_client.get(reverse("blocklist_list")).content.decode()
    assert "<td>every 6 hours</td>" in page
    assert "<td>every 90 minutes</td>" in page
    detail = operator_client.get(reverse("blocklist_detail", args=[source.pk])).content.decode()
    assert "<dd>every 6 hours</dd>" in detail
    assert odd.schedule_text == "every 90 minutes"


def test_the_target_jail_must_be_running_somewhere_or_bangui_s_own(operator_client,
                                                                   http_server, local_lists):
    create(operator_client, http_server, name="free", jail="no-such-jail")  # nobody published
    assert BlocklistSource.objects.filter(name="free").exists()
    _published("a", ["sshd", "nginx"])
    response = create(operator_client, http_server, name="typo", path="/t.txt",
                      jail="no-such-jail")
    assert response.status_code == 200
    own = ", ".join(j.name for j in BANGUI_JAILS)
    assert ("No node runs a jail named &#x27;no-such-jail&#x27;. Running: nginx, sshd; or one "
            f"of BanGUI&#x27;s own: {own}.") in response.content.decode()
    assert not BlocklistSource.objects.filter(name="typo").exists()
    assert create(operator_client, http_server, name="ok", path="/o.txt",
                  jail="nginx").status_code == 302
    assert create(operator_client, http_server, name="own", path="/b.txt",
                  jail="blocklist-import").status_code == 302


def test_the_list_says_where_the_target_jail_is_missing(operator_client):
    from nodes.models import Node
    _published("a", ["sshd"])
    BlocklistSource.objects.create(name="demo", url="https://example.org/d.txt",
                                   jail="blocklist-import")
    _published("b", ["sshd"])
    page = operator_client.get(reverse("blocklist_list")).content.decode()
    assert ("not running on a, b: create BanGUI's jails on the "
            '<a href="/config/">Config page</a>, or imports fail') in page
    Node.objects.filter(name="b").update(jails=["sshd", "blocklist-import"])
    page = operator_client.get(reverse("blocklist_list")).content.decode()
    assert "not running on a: create BanGUI's jails" in page
    Node.objects.filter(name="a").update(jails=["blocklist-import"])
    assert "jail-missing" not in operator_client.get(reverse("blocklist_list")).content.decode()


def test_a_boosted_request_gets_the_whole_page(operator_client):
    """A boosted form's redirect is followed with HX-Request and HX-Boosted:
    it swaps the body, so it needs the page, not the import-log fragment."""
    boosted = operator_client.get(reverse("blocklist_list"), headers={
        "HX-Request": "true", "HX-Boosted": "true"}).content.decode()
    assert "<h1>Blocklists</h1>" in boosted and "<nav" in boosted
    fragment = operator_client.get(reverse("blocklist_list"),
                                   headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section id="import-log"')
