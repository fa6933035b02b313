"""The dashboard's country filter takes a code, a name or the start of one
(#28: it took only ISO codes); what fits no country, or more than one, is
ignored with a note that says what it takes."""

from __future__ import annotations

import pytest

from geo.countries import country_code
from jails.forms.dashboard import BanTableFilterForm


@pytest.mark.parametrize(("typed", "code"), [
    ("de", "DE"), ("Germany", "DE"), ("  germ ", "DE"), ("united KINGDOM", "GB"),
    ("UK", "GB"), ("usa", "US"), ("unknown", "unknown"), ("", ""),
    ("Åland", "AX"), ("netherl", "NL"),
])
def test_a_code_a_name_or_its_start_names_one_country(typed, code):
    values, notes = BanTableFilterForm({"country": typed}).values()
    assert (values["country"], notes) == (code, [])


@pytest.mark.parametrize("typed", ["Atlantis", "United", "12", "U"])
def test_what_fits_no_country_or_several_is_ignored_with_a_note(typed):
    values, notes = BanTableFilterForm({"country": typed}).values()
    assert values["country"] == ""
    assert notes == [f"Ignored country={typed!r}: use a country code (DE), a country's name or "
                     "the start of one (Germ), or “unknown”"]


def test_two_letters_are_a_code_even_when_a_name_starts_with_them():
    assert BanTableFilterForm({"country": "ge"}).values()[0]["country"] == "GE"  # Georgia
    assert BanTableFilterForm({"country": "eu"}).values()[0]["country"] == "EU"  # not ISO
    assert country_code("United") is None  # Arab Emirates, Kingdom, States
