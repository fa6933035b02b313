"""The allow-list's add form and the duration syntax its expiry takes
(the page and ``manage.py allowlist add --expires`` share both)."""

from __future__ import annotations

import re
from datetime import timedelta

from django import forms

from allowlist.models import canonical
from jails.fail2ban import InvalidInput, validation

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*(weeks?|w|days?|d|hours?|h|minutes?|mins?|m|seconds?|secs?|s)?",
                   re.I)
MAX_DURATION = timedelta(days=3660)


def duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``1d12h``, ``1w``, ``1h 30m`` or plain seconds, as a
    timedelta (ValueError says what is wrong)."""
    words = str(text).strip().replace("+", " ")
    seconds, pos = 0, 0
    while pos < len(words):
        if words[pos].isspace():
            pos += 1
            continue
        match = _PART.match(words, pos)
        if not match:
            raise ValueError(f"{text!r} is not a duration (like 30m, 2h, 1d12h, 1w)")
        unit = (match.group(2) or "s")[0].lower()
        seconds += int(match.group(1)) * _UNITS[unit]
        pos = match.end()
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration (like 30m, 2h, 1d12h, 1w)")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError("at most 10 years: leave it empty for an entry that never expires")
    return timedelta(seconds=seconds)


class EntryForm(forms.Form):
    value = forms.CharField(label="Address, network or host name", max_length=253,
                            help_text="192.0.2.7, 198.51.100.0/24, 2001:db8::/48 or "
                                      "vpn.example.org (fail2ban resolves host names)")
    note = forms.CharField(max_length=500, required=False, help_text="Why: who or what it is.")
    expires = forms.CharField(label="Expires after", max_length=40, required=False,
                              help_text="Empty: never. 30m, 8h, 1d, 2w …")
    jail = forms.CharField(max_length=64, required=False, help_text="Empty: every jail.")
    where = forms.ChoiceField(label="Nodes", required=False, choices=[("", "every node")])

    def __init__(self, *args, nodes: list[str] = (), labels: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["where"].choices = (
            [("", "every node")] + [(f"@{lb}", f"nodes labelled {lb}") for lb in labels]
            + [(n, f"node {n}") for n in nodes])

    def clean_value(self) -> str:
        try:
            return canonical(self.cleaned_data["value"])
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_jail(self) -> str:
        jail = self.cleaned_data["jail"].strip()
        try:
            return validation.jail_name(jail) if jail else ""
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_expires(self) -> timedelta | None:
        text = self.cleaned_data["expires"].strip()
        try:
            return duration(text) if text else None
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def scope(self) -> dict:
        """node=/label= for :func:`allowlist.sync.add`."""
        where = self.cleaned_data.get("where") or ""
        if where.startswith("@"):
            return {"label": where[1:]}
        return {"node": where} if where else {}
