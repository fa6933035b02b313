"""The ban tables' template filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.utils import timezone

from jails.templatetags.bans import duration, flag, time_element


def test_time_element_shows_relative_time_local_tooltip_and_iso(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    at = datetime(2026, 1, 15, 11, 30, 5, tzinfo=UTC)
    with timezone.override("Europe/Berlin"):
        html = str(time_element(at))
    assert html.startswith('<time datetime="2026-01-15T12:30:05+01:00" '
                           'title="2026-01-15 12:30:05 CET">')
    assert html.endswith("</time>")


def test_time_element_is_relative_to_now():
    html = str(time_element(timezone.now() - timedelta(hours=3)))
    assert ">3\xa0hours ago</time>" in html
    assert time_element(None) == ""


def test_flag_and_duration():
    assert flag("de").startswith('<img class="flag" src="/static/flags/de.svg" alt=""')
    assert flag("DE") == flag("de")
    assert flag("<script>") == "" and flag("zz") == "" and flag(None) == ""
    from django.contrib.staticfiles import finders
    assert Path(finders.find("flags/de.svg")).read_text().lstrip().startswith("<svg")
    assert duration(-1) == "permanent"
    assert duration(timedelta(days=2, hours=3)) == "2d 3h"
