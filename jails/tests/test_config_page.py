"""The config page: your own files first, a filter box, filters in use."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def own(cfg):
    mine = cfg.confdir / "filter.d" / "zz-mine.local"
    mine.write_text("[Definition]\nfailregex = ^x <HOST>$\n")
    yield cfg
    (cfg.confdir / "filter.d" / "zz-mine.local").unlink()


def test_own_files_come_first_and_filters_in_use_are_marked(own, viewer_client):
    html = viewer_client.get("/config/").content.decode()
    group = html.split("<h2>filter.d/ <span class=\"count\">", 1)[1].split("</ul>", 1)[0]
    assert group.index("filter.d/zz-mine.local") < group.index("filter.d/apache-auth.conf")
    sshd = group.split("filter.d/sshd.conf", 1)[1].split("</li>", 1)[0]
    assert "in use: sshd" in sshd
    assert "in use" not in group.split("filter.d/apache-auth.conf", 1)[1].split("</li>", 1)[0]


def test_the_filter_box_narrows_the_list(own, viewer_client):
    html = viewer_client.get("/config/?q=nginx-http", HTTP_HX_REQUEST="true").content.decode()
    assert "filter.d/nginx-http-auth.conf" in html
    assert "filter.d/sshd.conf" not in html and "jail.conf" not in html


def test_the_editor_numbers_its_lines(own, admin_client):
    html = admin_client.get("/config/file/?path=filter.d/zz-mine.local").content.decode()
    assert '<pre class="gutter" aria-hidden="true" data-gutter>1\n2\n3</pre>' in html


def test_banguis_own_jails_are_explained_with_fitting_ban_times(cfg, admin_client):
    from jails.config import jail as jail_config

    html = admin_client.get("/config/").content.decode()
    assert "blocklist imports ban into it; 25 hours, so a daily list never lapses" in html
    text = {j.name: jail_config.bangui_jail_text(j) for j in jail_config.BANGUI_JAILS}
    assert "bantime = 90000" in text["blocklist-import"]
    assert "bantime = 86400" in text["manual"]


def test_the_demo_offers_its_own_sample_blocklist(admin_client, settings):
    from pathlib import Path

    settings.DEMO_BLOCKLIST_URL = "http://127.0.0.1:8000/static/demo/sample-blocklist.txt"
    html = admin_client.get("/blocklists/new/").content.decode()
    assert 'data-testid="demo-list"' in html
    assert 'value="http://127.0.0.1:8000/static/demo/sample-blocklist.txt"' in html
    sample = Path(settings.BASE_DIR) / "static" / "demo" / "sample-blocklist.txt"
    assert sum(1 for ln in sample.read_text().splitlines() if ln and ln[0].isdigit()) >= 60
    settings.DEMO_BLOCKLIST_URL = ""
    assert 'data-testid="demo-list"' not in admin_client.get("/blocklists/new/").content.decode()
