"""The two forms that hide a log-file choice from who may not edit the config,
seen in a real Chromium: a viewer's regex tester (no log-file source, a
sentence saying why, pasted lines still tested) against an admin's, and the
jail page's settings form of an operator limited to bans
(BANGUI_OPERATORS_EDIT_CONFIG off: logpath disabled with why, maxretry still
saved). No console error on the way, in either theme or on a phone.

With BANGUI_TEST_SHOTS set to a directory, screenshots of each state go there
(light, dark, 390 px phone) for a person to look at; CI does not set it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import console_errors, login_page
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import sshd_failure_line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_LOG_FILES = ("Testing against a log file on the host needs permission to edit the "
                "configuration; paste the log lines to test instead.")
LOGPATH_NEEDS_CONFIG = "Changing a jail's log files needs permission to edit the configuration."

# Distinct sshd PIDs: fail2ban's sshd filter merges lines of one PID into one failure.
LINES = (sshd_failure_line("192.0.2.10").replace("sshd[", "sshd[1")
         + sshd_failure_line("2001:db8::7").replace("sshd[", "sshd[2")
         + "Nov 23 14:03:08 host sshd[1]: Connection closed by 192.0.2.12 port 22 [preauth]\n"
         + "Nov 23 14:03:09 host cron[2]: job done\n")


@pytest.fixture
def cfg(f2b, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    settings.BANGUI_REGEX_LOG_DIRS = [str(f2b.logdir)]
    return f2b


def _fits(page: Page) -> int:
    """How many px the page is wider than its window (0: it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _shots(page: Page, name: str, focus=None) -> None:
    """Light, dark and 390x844 phone screenshots of the page (scrolled to
    ``focus`` when given), then back to light at the desktop size. Every
    variant is checked to fit its window and to keep ``focus`` visible."""
    folder = os.environ.get("BANGUI_TEST_SHOTS")
    desktop = page.viewport_size or {"width": 1280, "height": 720}
    variants = [("light", "light", desktop), ("dark", "dark", desktop),
                ("phone-light", "light", {"width": 390, "height": 844}),
                ("phone-dark", "dark", {"width": 390, "height": 844})]
    for suffix, scheme, size in variants:
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size(size)
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") is (
            scheme == "dark")
        if focus is not None:
            focus.scroll_into_view_if_needed()
            expect(focus).to_be_visible()
        assert _fits(page) <= 0, f"{name}-{suffix}: wider than its window by {_fits(page)} px"
        assert page.locator("[style]").count() == 0  # none of the page's (CSP), none of ours
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            # caret="initial": Playwright's default caret hiding leaves an
            # empty style="" on every input, which htmx's settle then copies
            # onto the swapped-in fields, a CSP violation of the test's own making.
            page.screenshot(path=f"{folder}/{name}-{suffix}.png", full_page=focus is None,
                            caret="initial")
            if focus is not None:
                focus.screenshot(path=f"{folder}/{name}-{suffix}-form.png", caret="initial")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(desktop)


# --- the regex tester ---------------------------------------------------------

def test_a_viewer_tests_pasted_lines_and_is_told_why_there_is_no_log_file(
        page: Page, live_server, viewer_user, cfg):
    errors = console_errors(page)
    login_page(page, live_server, viewer_user, next_path="/config/regex/")
    expect(page.get_by_role("heading", name="Regex tester")).to_be_visible()
    form = page.locator("form.regex-form")
    why = form.get_by_test_id("no-log-files")
    expect(why).to_be_visible()
    assert why.inner_text().strip() == NO_LOG_FILES
    # No log-file source at all: no label, no input, nothing posted by name.
    expect(form.get_by_label("…or a log file")).to_have_count(0)
    expect(page.locator("[name=log_path]")).to_have_count(0)
    expect(form.get_by_text("An absolute path inside the allowed directories")).to_have_count(0)
    # The sentence sits in the form, under the fields, above the button, and
    # starts at the fields' left edge.
    lines_box = form.get_by_label("Log lines").bounding_box()
    why_box = why.bounding_box()
    button_box = form.get_by_role("button", name="Test").bounding_box()
    assert lines_box["y"] + lines_box["height"] <= why_box["y"] < button_box["y"]
    assert abs(why_box["x"] - lines_box["x"]) <= 1
    _shots(page, "regex-viewer", focus=form)

    form.get_by_label("Existing filter").select_option("sshd")
    form.get_by_label("Log lines").fill(LINES)
    form.get_by_role("button", name="Test").click()
    result = page.get_by_test_id("result")
    expect(result).to_contain_text("4 lines tested from pasted lines: 2 matched, 1 ignored, "
                                   "1 missed")
    expect(result).to_have_class("banner banner-ok")
    expect(page.get_by_test_id("hosts")).to_have_text("192.0.2.10, 2001:db8::7")
    matched = page.get_by_test_id("matched")
    expect(matched).to_be_visible()
    assert [r.inner_text().split("\t")[0] for r in matched.locator("tbody tr").all()] == [
        "192.0.2.10", "2001:db8::7"]
    expect(page.get_by_test_id("missed")).to_contain_text("job done")
    expect(page.get_by_role("heading", name="Matched (2)")).to_be_visible()
    # The sentence is still there after the answer came in (htmx swapped the result only).
    expect(why).to_be_visible()
    _shots(page, "regex-viewer-result")
    assert errors == [], "\n".join(errors)


def test_a_viewer_who_leaves_the_lines_empty_is_told_to_paste_them(
        page: Page, live_server, viewer_user, cfg):
    errors = console_errors(page)
    login_page(page, live_server, viewer_user, next_path="/config/regex/")
    form = page.locator("form.regex-form")
    form.get_by_label("Existing filter").select_option("sshd")
    form.get_by_role("button", name="Test").click()
    result = page.get_by_test_id("result")
    expect(result).to_contain_text("Paste the log lines to test.")
    expect(result).to_have_class("banner banner-bad")
    # The refusal is answered 400 (htmx swaps it in): Chromium logs any 4xx
    # response as "Failed to load resource"; that one line is expected, no other.
    assert [e for e in errors if "status of 400 (Bad Request)" not in e] == []


def test_an_admin_still_tests_a_log_file(page: Page, live_server, admin_user, cfg):
    errors = console_errors(page)
    cfg.log_path("sshd").write_text(LINES)
    login_page(page, live_server, admin_user, next_path="/config/regex/")
    form = page.locator("form.regex-form")
    log_file = form.get_by_label("…or a log file")
    expect(log_file).to_be_visible()
    expect(log_file).to_be_editable()
    expect(form.get_by_text("An absolute path inside the allowed directories")).to_be_visible()
    expect(form.get_by_test_id("no-log-files")).to_have_count(0)
    expect(page.get_by_text(NO_LOG_FILES)).to_have_count(0)
    _shots(page, "regex-admin", focus=form)

    form.get_by_label("Existing filter").select_option("sshd")
    log_file.fill(str(cfg.log_path("sshd")))
    form.get_by_role("button", name="Test").click()
    result = page.get_by_test_id("result")
    expect(result).to_contain_text("2 matched")
    expect(page.get_by_test_id("hosts")).to_have_text("192.0.2.10, 2001:db8::7")
    assert errors == [], "\n".join(errors)


# --- the jail page's settings form --------------------------------------------

def _settings_form(page: Page):
    return page.locator("form[action$='/settings/']")


def test_an_operator_limited_to_bans_sees_the_log_files_disabled_and_saves_maxretry(
        page: Page, live_server, operator_user, cfg, settings):
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False
    errors = console_errors(page)
    login_page(page, live_server, operator_user, next_path="/jails/sshd/")
    expect(page.get_by_role("heading", name="Change settings")).to_be_visible()
    form = _settings_form(page)
    logpath = form.get_by_label("Log files")
    expect(logpath).to_be_visible()
    expect(logpath).to_be_disabled()
    expect(logpath).not_to_be_editable()
    # Its help says why (and not the usual "Absolute paths, one per line").
    help_id = logpath.get_attribute("aria-describedby")
    assert help_id, "the disabled field's help is not tied to it"
    why = page.locator(f"#{help_id}")
    expect(why).to_be_visible()
    assert why.inner_text().strip() == LOGPATH_NEEDS_CONFIG
    expect(form.get_by_text("Absolute paths, one per line")).to_have_count(0)
    # Not shown as an error: no error list, no alert in the form.
    expect(form.locator(".errorlist, [role=alert]")).to_have_count(0)
    why_color = why.evaluate("e => getComputedStyle(e).color")
    error_color = page.evaluate("""() => { const p = document.createElement('p');
        p.className = 'errorlist'; document.body.append(p);
        const c = getComputedStyle(p).color; p.remove(); return c; }""")
    assert why_color != error_color
    # The other fields work.
    for label in ("Ban time", "Find time", "Max retries"):
        expect(form.get_by_label(label)).to_be_editable()
    expect(form.get_by_label("Filter")).to_be_enabled()
    _shots(page, "jail-operator", focus=form)

    form.get_by_label("Max retries").fill("8")
    page.once("dialog", lambda d: d.accept())  # "Save to jail.d/sshd.local and reload fail2ban?"
    form.get_by_role("button", name="Save").click()
    result = page.get_by_test_id("result")
    expect(result).to_contain_text("Updated maxretry of sshd.", timeout=20_000)
    expect(result).to_have_class("msg msg-success")
    assert Fail2banClient(str(cfg.socket)).jail_settings("sshd").maxretry == 8
    # The page swapped in again keeps the field disabled with its reason.
    expect(_settings_form(page).get_by_label("Log files")).to_be_disabled()
    expect(_settings_form(page).get_by_text(LOGPATH_NEEDS_CONFIG)).to_be_visible()
    _shots(page, "jail-operator-saved", focus=result)
    assert errors == [], "\n".join(errors)


def test_an_operator_who_may_edit_the_config_still_edits_the_log_files(
        page: Page, live_server, operator_user, cfg, settings):
    settings.BANGUI_OPERATORS_EDIT_CONFIG = True
    errors = console_errors(page)
    login_page(page, live_server, operator_user, next_path="/jails/sshd/")
    form = _settings_form(page)
    logpath = form.get_by_label("Log files")
    expect(logpath).to_be_editable()
    expect(form.get_by_text("Absolute paths, one per line")).to_be_visible()
    expect(form.get_by_text(LOGPATH_NEEDS_CONFIG)).to_have_count(0)
    _shots(page, "jail-operator-config", focus=form)
    assert errors == [], "\n".join(errors)



# --- what the screenshots showed (fixed: bangui.css's :disabled rule, the
# settings form's show:top) ------------------------------------------------------

_LOOK = ("e => { const s = getComputedStyle(e); "
         "return [s.color, s.backgroundColor, s.borderColor]; }")


def test_the_disabled_log_files_field_looks_disabled(page: Page, live_server, operator_user,
                                                     cfg, settings):
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False
    login_page(page, live_server, operator_user, next_path="/jails/sshd/")
    form = _settings_form(page)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        disabled = form.get_by_label("Log files").evaluate(_LOOK)
        editable = form.get_by_label("Max retries").evaluate(_LOOK)
        assert disabled != editable, scheme


@pytest.mark.parametrize("size", [{"width": 1280, "height": 720}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_the_answer_to_a_settings_save_is_in_view(page: Page, live_server, operator_user, cfg,
                                                  settings, size):
    settings.BANGUI_OPERATORS_EDIT_CONFIG = False
    page.set_viewport_size(size)
    login_page(page, live_server, operator_user, next_path="/jails/sshd/")
    form = _settings_form(page)
    form.get_by_label("Max retries").fill("8")
    page.once("dialog", lambda d: d.accept())
    form.get_by_role("button", name="Save").click()
    result = page.get_by_test_id("result")
    expect(result).to_contain_text("Updated maxretry of sshd.", timeout=20_000)
    expect(result).to_be_in_viewport()
