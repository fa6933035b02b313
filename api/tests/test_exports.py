"""Exports of the ban archive: CSV and JSON, the dashboard's filters,
streamed in chunks (never every row at once)."""

from __future__ import annotations

import csv
import io
import json

from api import archive
from api.tests.conftest import bearer
from api.tests.test_bans import archived


def content(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_it_streams_every_matching_ban_as_csv_in_chunks(viewer_user, make_token, client,
                                                        monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(archive, "EXPORT_CHUNK", 2)
    archived(5)
    archived(1, jail="nginx", actor="=cmd|' /C calc'!A0")
    response = client.get("/api/v1/bans/export.csv", {"jail": "sshd"},
                          **bearer(make_token(viewer_user)))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    with django_assert_num_queries(3):  # 5 rows in chunks of 2: 2 + 2 + 1
        rows = list(csv.DictReader(io.StringIO(content(response))))
    assert [r["ip"] for r in rows] == [f"192.0.2.{i}" for i in range(1, 6)]
    assert list(rows[0]) == list(archive.FIELDS)
    nginx = content(client.get("/api/v1/bans/export.csv", {"jail": "nginx"},
                               **bearer(make_token(viewer_user))))
    assert "'=cmd" in nginx  # a formula stays text in a spreadsheet


def test_it_streams_json_as_one_array(viewer_user, make_token, client, monkeypatch):
    monkeypatch.setattr(archive, "EXPORT_CHUNK", 2)
    archived(3)
    response = client.get("/api/v1/bans/export.json", {"window": "7d"},
                          **bearer(make_token(viewer_user)))
    assert response["Content-Type"] == "application/json"
    rows = json.loads(content(response))
    assert [r["ip"] for r in rows] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    listed = client.get("/api/v1/bans/", {"window": "7d"}, **bearer(make_token(viewer_user)))
    assert rows == listed.json()["results"]  # the same fields, the same values
    empty = client.get("/api/v1/bans/export.json", {"jail": "none"},
                       **bearer(make_token(viewer_user)))
    assert json.loads(content(empty)) == []


def test_a_bad_filter_is_refused_before_streaming(viewer_user, make_token, client):
    response = client.get("/api/v1/bans/export.csv", {"window": "forever"},
                          **bearer(make_token(viewer_user)))
    assert response.status_code == 400 and response.json()["error"] == "invalid"


def test_an_export_holds_one_chunk_in_memory_not_every_row(viewer_user, make_token, client,
                                                           monkeypatch):
    import tracemalloc
    from datetime import timedelta

    from django.utils import timezone

    from jails.models import BanEvent

    monkeypatch.setattr(archive, "EXPORT_CHUNK", 500)
    now = timezone.now()
    BanEvent.objects.bulk_create(
        BanEvent(ip=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", jail="sshd",
                 banned_at=now - timedelta(seconds=i), bantime=600, ip_key=str(i))
        for i in range(8000))
    secret = make_token(viewer_user)

    def peak(consume) -> int:
        tracemalloc.start()
        try:
            consume()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def export():
        response = client.get("/api/v1/bans/export.csv", {"window": "7d"}, **bearer(secret))
        lines = 0
        for piece in response.streaming_content:
            lines += piece.count(b"\n")
        assert lines == 8001  # the header and every row

    def every_row_at_once():
        rows = [archive.row(b) for b in BanEvent.objects.defer("matches")]
        assert len(rows) == 8000

    export()  # the first request imports the API's modules: not the export's memory
    streamed, loaded = peak(export), peak(every_row_at_once)
    print(f"export peak {streamed} B, all rows {loaded} B")
    assert streamed < loaded / 4


def test_the_dashboard_links_its_filters_export_and_the_session_downloads_it(viewer_client):
    archived(3)
    archived(2, jail="nginx")
    html = viewer_client.get("/", {"window": "7d", "jail": "nginx", "page": "1"}).content.decode()
    export = html[html.index('data-testid="ban-export"'):].split("</p>")[0]
    href = export.split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert href.startswith("/api/v1/bans/export.csv?") and "jail=nginx" in href
    assert "window=7d" in href
    rows = list(csv.DictReader(io.StringIO(content(viewer_client.get(href)))))
    assert [r["jail"] for r in rows] == ["nginx", "nginx"]
