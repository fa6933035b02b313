"""Unknown or newer fail2ban releases: BanGUI warns, never refuses (issue #25).

A real sandbox reports its own release (one of the tested ones, whichever
the matrix runs) and gets no warning. Another release is a fault a real
server cannot show, so only the answer to ``version`` is replaced; every
other command still goes to the real fail2ban. The warning shows in the
status bar and in /health/ready for a signed-in user; an anonymous
/health/ready learns "ok" and nothing more (no version, no path).

With BANGUI_TEST_SHOTS set to a directory, the browser test writes the
status bar with the warning there (light, dark, 390 px phone)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse

from jails.fail2ban.client import _Connection
from jails.fail2ban.versions import TESTED_VERSIONS, untested_warning

pytestmark = [pytest.mark.django_db, pytest.mark.fail2ban]

NEWER = "1.2.0"
WARNING = ("fail2ban 1.2.0: not a version BanGUI was tested with (1.0.2\u20131.1.1); "
           "report problems")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fail2ban_says(monkeypatch):
    """Replace fail2ban's answer to ``version`` (asked of the real server,
    then swapped); every other answer is the real one."""
    real = _Connection.call_many  # one command or several in one write

    def use(version: str):
        def call_many(self, *commands):
            answers = real(self, *commands)
            return [version if list(command) == ["version"] else answer
                    for command, answer in zip(commands, answers, strict=True)]

        monkeypatch.setattr(_Connection, "call_many", call_many)

    return use


def test_the_warning_names_the_release_and_the_tested_range():
    assert untested_warning(NEWER) == WARNING
    for version in TESTED_VERSIONS:
        assert untested_warning(version) is None
        assert untested_warning(f" {version}\n") is None
    assert untested_warning("9" * 500).startswith(f"fail2ban {'9' * 40}:")  # cut short
    assert "(no version given)" in untested_warning("")


def test_the_tested_list_covers_the_matrix():
    """scripts/test.sh's matrix and setup.sh's pinned releases are tested
    releases: adding one there without adding it here fails."""
    matrix = re.search(r'FAIL2BAN_VERSIONS="\$\{BANGUI_TEST_FAIL2BAN_VERSIONS-([^}]*)\}"',
                       (ROOT / "scripts" / "test.sh").read_text())
    assert matrix, "scripts/test.sh no longer sets FAIL2BAN_VERSIONS as expected"
    pinned = re.findall(r'^\s*"(\d+\.\d+\.\d+) \S+ [0-9a-f]{64}"',
                        (ROOT / "scripts" / "setup.sh").read_text(), re.M)
    assert pinned
    assert set(matrix.group(1).split()) | set(pinned) <= set(TESTED_VERSIONS)


def test_a_tested_release_shows_no_warning(admin_client, f2b):
    version = f2b.version()
    assert version in TESTED_VERSIONS  # whichever release the matrix runs
    body = admin_client.get(reverse("status_bar")).content.decode()
    assert f"fail2ban {version}" in body
    assert "version-warning" not in body and "not a version BanGUI" not in body
    check = admin_client.get("/health/ready").json()["checks"]["fail2ban"]
    assert check == {"ok": True, "version": version}


def test_an_unknown_release_is_warned_about_in_the_status_bar(admin_client, f2b,
                                                             fail2ban_says):
    fail2ban_says(NEWER)
    response = admin_client.get(reverse("status_bar"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "fail2ban 1.2.0" in body
    assert 'data-testid="version-warning"' in body and WARNING in body
    assert "2 jails running" in body  # warned, not refused: the rest still works
    # The full page carries the same bar.
    assert WARNING in admin_client.get(reverse("dashboard")).content.decode()


def test_health_ready_tells_a_signed_in_user_and_no_one_else(admin_client, client, f2b,
                                                            fail2ban_says):
    fail2ban_says(NEWER)
    # The status as a whole also depends on the task worker, which no test runs here.
    signed_in = admin_client.get("/health/ready")
    assert "fail2ban" not in signed_in.json().get("down", [])  # untested, still ready
    assert signed_in.json()["checks"]["fail2ban"] == {
        "ok": True, "version": NEWER, "warning": WARNING}

    anonymous = client.get("/health/ready")
    assert anonymous.json()["checks"]["fail2ban"] == "ok"
    text = anonymous.content.decode()
    assert NEWER not in text and "tested" not in text and str(f2b.root) not in text


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_warning_reads_in_a_browser(live_server, page, admin_user, f2b, fail2ban_says,
                                        settings):
    from conftest import login_page

    fail2ban_says(NEWER)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    login_page(page, live_server, admin_user)
    badge = page.get_by_test_id("version-warning")
    assert badge.inner_text().strip() == f"⚠ {WARNING}"
    shots = os.environ.get("BANGUI_TEST_SHOTS")
    for name, scheme, width in (("light", "light", 1280), ("dark", "dark", 1280),
                                ("phone", "light", 390)):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": 800})
        assert badge.is_visible()
        # The bar wraps on a phone: the page never grows wider than its window.
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.locator("#status-bar").screenshot(path=f"{shots}/status-bar-{name}.png")
            page.screenshot(path=f"{shots}/page-{name}.png")
    assert errors == []
