"""Fields every BanGUI form shares: a value checked by one of
jails.fail2ban.validation's checks, and a list of IPs as typed."""

from __future__ import annotations

import re

from django import forms

from jails.fail2ban import InvalidInput


def checked(check, value):
    """Run one of jails.fail2ban.validation's checks as form validation."""
    try:
        return check(value)
    except InvalidInput as exc:
        raise forms.ValidationError(str(exc)) from None


class CheckedField(forms.CharField):
    """Text normalised by a jails.fail2ban.validation check (an IP, a jail
    name, a network); an empty optional value stays empty."""

    def __init__(self, check, **kwargs):
        self.check = check
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return value if value in self.empty_values else checked(self.check, value)


def split_list(text: str) -> list[str]:
    """Words separated by spaces, commas, semicolons or new lines."""
    return [p for p in re.split(r"[\s,;]+", text or "") if p]
