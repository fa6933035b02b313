"""The dashboard's query string."""

from __future__ import annotations

from django import forms

from geo.countries import country_code
from jails.constants import BAN_TABLE_SORTS, UNKNOWN_COUNTRY, Origin, Window
from jails.fail2ban import validation
from jails.forms.fields import CheckedField, NodeField

DEFAULT_SORT = "-banned_at"
PER_PAGE_CHOICES = (10, 25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
IP_CHARS = set("0123456789abcdefABCDEF:./")  # "/": a banned network, 203.0.113.0/24
# What kind of ban (docs/archive.md, "Network and permanent bans")
KIND_CHOICES = (("permanent", "permanent"), ("range", "networks"))


class BanTableFilterForm(forms.Form):
    """The dashboard's query string. Bad values fall back to their default."""

    window = forms.ChoiceField(choices=Window.choices, required=False)
    jail = CheckedField(validation.jail_name, max_length=64, required=False)
    country = forms.CharField(max_length=60, required=False)
    origin = forms.ChoiceField(choices=[("", "any"), *Origin.choices], required=False)
    ip = forms.CharField(label="IP", max_length=45, required=False)
    kind = forms.ChoiceField(choices=[("", "any"), *KIND_CHOICES], required=False)
    node = NodeField()
    sort = forms.ChoiceField(choices=[(s, s) for f in BAN_TABLE_SORTS for s in (f, f"-{f}")],
                             required=False)
    page = forms.IntegerField(min_value=1, max_value=10**9, required=False)
    per_page = forms.TypedChoiceField(choices=[(n, n) for n in PER_PAGE_CHOICES], coerce=int,
                                      required=False, empty_value=DEFAULT_PER_PAGE)

    DEFAULTS = {"window": Window.DAY.value, "jail": "", "country": "", "origin": "", "ip": "",
                "kind": "", "node": "", "sort": DEFAULT_SORT, "page": 1,
                "per_page": DEFAULT_PER_PAGE}

    def clean_country(self) -> str:
        value = self.cleaned_data["country"].strip()
        if value.lower() == UNKNOWN_COUNTRY:
            return UNKNOWN_COUNTRY
        code = country_code(value) if value else ""
        if code is None and len(value) == 2 and value.isascii() and value.isalpha():
            code = value.upper()  # a code the names above may not know
        if code is None:
            raise forms.ValidationError(
                "use a country code (DE), a country's name or the start of one (Germ), "
                "or “unknown”")
        return code

    def clean_ip(self) -> str:
        value = self.cleaned_data["ip"].strip()
        if not set(value) <= IP_CHARS:
            raise forms.ValidationError(
                "an IP address or network, or the start of one (digits, a-f, '.', ':' and '/')")
        return value

    def values(self) -> tuple[dict, list[str]]:
        """The filters to use, and a note for each value that was ignored."""
        self.is_valid()
        out, notes = {}, []
        for name, default in self.DEFAULTS.items():
            if name in self.errors:
                raw = str(self.data.get(name, ""))[:60]
                notes.append(f"Ignored {name}={raw!r}: {' '.join(self.errors[name])}")
                out[name] = default
            else:
                value = self.cleaned_data.get(name)
                out[name] = default if value in (None, "") else value
        return out, notes
