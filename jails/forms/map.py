"""Input of the world map page."""

from __future__ import annotations

import re

from django import forms

from jails.constants import UNKNOWN_COUNTRY, Origin, Window
from jails.forms.fields import NodeField

_CODE = re.compile(r"[A-Za-z]{2}")


class MapFilterForm(forms.Form):
    """``?window=&origin=&country=&page=&node=``. Bad values are dropped one by
    one (with a message), so a mistyped link still shows a map."""

    window = forms.ChoiceField(choices=Window.choices, required=False)
    origin = forms.ChoiceField(choices=[("", "all origins"), *Origin.choices], required=False)
    country = forms.CharField(max_length=16, required=False)
    page = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)
    node = NodeField()

    def clean_country(self) -> str:
        value = self.cleaned_data["country"].strip()
        if not value:
            return ""
        if value.lower() == UNKNOWN_COUNTRY:
            return UNKNOWN_COUNTRY
        if not _CODE.fullmatch(value):
            raise forms.ValidationError(
                f"“{value}” is not a country code (two letters, like DE, or “unknown”).")
        return value.upper()
