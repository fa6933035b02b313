"""Rows archived while geo could not place them get their country later:
hourly over the last week (the fleet-wide ``archive-countries`` schedule)
and over the whole archive with ``sync_bans --fill-countries``; the daily
rollup behind the map follows (docs/archive.md, "Geo")."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from bangui.schedules import SCHEDULES
from jails import tasks
from jails.archive import sync as archive
from jails.models import BanDay, BanEvent

pytestmark = pytest.mark.django_db


def _archived(ip: str, days_ago: float, country: str | None = None) -> BanEvent:
    return BanEvent.objects.create(
        ip=ip, jail="sshd", bantime=600, country_code=country,
        banned_at=timezone.now() - timedelta(days=days_ago))


def _countries() -> dict[str, str | None]:
    return dict(BanEvent.objects.values_list("ip", "country_code"))


def test_the_hourly_fill_gives_last_weeks_rows_their_country_and_the_map_follows():
    _archived("8.8.8.8", 1)
    _archived("8.8.8.8", 2)
    _archived("81.2.69.160", 3)
    _archived("10.0.0.1", 1)  # geo cannot place it: stays unknown
    _archived("2.16.0.1", 20)  # older than the scheduled window
    _archived("198.51.100.1", 1, country="FR")  # already known: left alone

    assert tasks.fill_countries() == "3 archived bans got a country"
    assert _countries() == {"8.8.8.8": "US", "81.2.69.160": "GB", "10.0.0.1": None,
                            "2.16.0.1": None, "198.51.100.1": "FR"}
    # The rollup the map reads counts them under their country now.
    by_key = dict(BanDay.objects.filter(kind="country").values_list("key")
                  .annotate(total=Sum("bans")))
    assert (by_key["US"], by_key["GB"], by_key[""]) == (2, 1, 2)
    assert tasks.fill_countries() == "0 archived bans got a country"  # nothing left to do


def test_the_scheduled_fill_reads_at_most_its_limit_newest_first():
    _archived("8.8.8.8", 1)
    _archived("81.2.69.160", 2)
    assert archive.fill_missing_countries(limit=1) == 1
    assert _countries() == {"8.8.8.8": "US", "81.2.69.160": None}


def test_the_command_fills_the_whole_archive():
    _archived("2.16.0.1", 200)
    out = StringIO()
    call_command("sync_bans", "--fill-countries", stdout=out)
    assert out.getvalue().strip() == "archived bans that got a country: 1"
    assert _countries() == {"2.16.0.1": "NL"}


def test_geo_down_changes_nothing_and_the_next_run_catches_up(monkeypatch):
    _archived("8.8.8.8", 1)

    def down():
        raise OSError("geo down")

    monkeypatch.setattr("geo.service.get_cache", down)
    assert archive.fill_missing_countries() == 0
    monkeypatch.undo()
    assert archive.fill_missing_countries() == 1


def test_it_is_a_fleet_wide_hourly_schedule():
    task = next(t for t in SCHEDULES if t.name == "archive-countries")
    assert (task.func, task.schedule_type, task.fleet_wide) == (
        "jails.tasks.fill_countries", "H", True)
