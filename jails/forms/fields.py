"""Fields every BanGUI form shares: a value checked by one of
jails.fail2ban.validation's checks, and a list of IPs as typed."""

from __future__ import annotations

import re

from django import forms

from jails.fail2ban import InvalidInput
from nodes import nodename


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


def _node_name(value: str) -> str:
    try:
        return nodename.clean(value)
    except nodename.BadNodeName as exc:
        raise InvalidInput(str(exc)) from None


class NodeField(CheckedField):
    """A fleet node's name (the node scope of a page); optional."""

    def __init__(self, **kwargs):
        super().__init__(_node_name, max_length=63, required=False, **kwargs)


def split_list(text: str) -> list[str]:
    """Words separated by spaces, commas, semicolons or new lines."""
    return [p for p in re.split(r"[\s,;]+", text or "") if p]
