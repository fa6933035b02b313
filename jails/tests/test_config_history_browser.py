"""Config history in a real Chromium (docs/config.md, "Config history"):
save, see the diff first, save again, a save fail2ban refuses, then restore
the first version from the history page: the file is byte-identical to it
and fail2ban runs its settings. The refused save is in the history as
refused, with fail2ban's message. No console error on the way.

With BANGUI_TEST_SHOTS set to a directory, screenshots of the diff preview
and the history page go there (light, dark, 390 px phone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conftest import console_errors, login_page
from jails.fail2ban import Fail2banClient
from jails.models import ConfigVersion
from jails.tests.test_viewer_forms_browser import _shots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
REL = "jail.d/bangui-history.local"
FIRST = "[sshd]\nmaxretry = 4\n"
SECOND = "# tighter\n[sshd]\nmaxretry = 7\nfindtime = 300\n"
REFUSED = "[sshd]\nlogpath = /no/such/dir/auth.log\n"


def _show_then_save(page: Page, text: str) -> None:
    page.locator("textarea[name=text]").fill(text)
    page.get_by_role("button", name="Show changes").click()
    # beside the buttons, brought into view: not off-screen above the editor
    expect(page.get_by_test_id("preview")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Save and reload")).to_be_visible()


def test_save_with_a_preview_then_restore_the_first_version(page: Page, live_server,
                                                            admin_user, cfg):
    errors = console_errors(page)
    client = Fail2banClient(str(cfg.socket))
    login_page(page, live_server, admin_user, next_path=f"/config/file/?path={REL}")
    result = page.get_by_test_id("result")

    # 1. the first save: the diff first (all new lines), nothing written yet
    _show_then_save(page, FIRST)
    diff = page.get_by_test_id("preview-diff")
    expect(diff.locator(".diff-add")).to_contain_text(["+[sshd]", "+maxretry = 4"])
    assert not (cfg.confdir / REL).exists()
    _shots(page, "preview-new", page.get_by_test_id("preview"))
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Save and reload").click()
    expect(result).to_contain_text(f"Saved {REL}")
    expect(result).to_be_in_viewport()  # the answer where the user looks
    expect(page.get_by_test_id("preview")).to_have_count(0)
    assert client.jail_settings("sshd").maxretry == 4

    # 2. the second: its diff against the file on disk, then saved
    _show_then_save(page, SECOND)
    expect(diff.locator(".diff-del")).to_have_text(["-maxretry = 4"])
    expect(diff.locator(".diff-add")).to_have_text(["+# tighter", "+maxretry = 7",
                                                    "+findtime = 300"])
    _shots(page, "preview", page.get_by_test_id("preview"))
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Save and reload").click()
    expect(result).to_contain_text(f"Saved {REL}")
    assert client.jail_settings("sshd").maxretry == 7

    # 3. one fail2ban's check refuses: nothing written
    page.locator("textarea[name=text]").fill(REFUSED)
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Save and reload").click()
    expect(result).to_contain_text("Not done.")
    assert (cfg.confdir / REL).read_text() == SECOND

    # 4. the history: newest first, the refused save with fail2ban's words
    page.get_by_test_id("history-link").get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"History of {REL}")).to_be_visible()
    first, second, refused = ConfigVersion.objects.filter(path=REL).order_by("id")
    assert (first.kind, second.kind, refused.kind) == ("created", "saved", "refused")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    assert rows.first.get_attribute("data-testid") == f"version-{refused.pk}"
    row = page.get_by_test_id(f"version-{refused.pk}")
    expect(row).to_contain_text("refused")
    expect(row).to_contain_text("✗ failed")
    expect(row.get_by_test_id("message")).to_contain_text(
        "fail2ban's config test failed: Have not found any log file for sshd jail")
    # the default diff: the refused text against the save before it
    expect(page.get_by_test_id("history-diff").locator(".diff-add")).to_contain_text(
        ["+logpath = /no/such/dir/auth.log"])
    # any two versions: the first against the second
    page.get_by_label("From version").select_option(str(first.pk))
    page.get_by_label("to version").select_option(str(second.pk))
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_test_id("compare")).to_contain_text(
        f"Changes from #{first.pk} to #{second.pk}")
    expect(page.get_by_test_id("history-diff").locator(".diff-del")).to_have_text(
        ["-maxretry = 4"])
    assert f"a={first.pk}" in page.url  # the URL says which two
    _shots(page, "history")

    # 5. restore the first version: through the transaction, fail2ban runs it
    page.once("dialog", lambda d: d.accept())
    page.get_by_test_id(f"version-{first.pk}").get_by_role("button", name="Restore").click()
    expect(result).to_contain_text(f"Restored version #{first.pk} of {REL}")
    assert (cfg.confdir / REL).read_bytes() == FIRST.encode()
    assert client.jail_settings("sshd").maxretry == 4
    newest = page.locator("tbody tr").first
    expect(newest).to_contain_text("restored")
    expect(newest).to_contain_text(f"restored version #{first.pk}")
    expect(newest).to_contain_text("(on disk)")
    _shots(page, "history-restored", result)

    # 6. a hand edit on the host: the editor's next read notices and keeps it
    (cfg.confdir / REL).write_text("[sshd]\nmaxretry = 5\n")
    page.goto(live_server.url + f"/config/file/?path={REL}")
    expect(page.get_by_test_id("outside-change")).to_contain_text("Changed outside BanGUI")
    _shots(page, "editor-outside", page.get_by_test_id("outside-change"))
    page.get_by_test_id("history-link").get_by_role("link").click()
    newest = page.locator("tbody tr").first
    expect(newest).to_contain_text("changed outside BanGUI")
    expect(newest).to_contain_text("not checked")
    # the refused save answers 400 by design (its form comes back with why)
    assert [e for e in errors if "status of 400" not in e] == []
