"""The IP search box."""

from __future__ import annotations

from django import forms

from jails.fail2ban import validation
from jails.forms.dashboard import IP_CHARS
from jails.forms.fields import CheckedField


class IPSearchForm(forms.Form):
    q = CheckedField(validation.ip_address, label="IP address", max_length=64)

    def address_start(self) -> str:
        """The text when it is not an address but the start of one (what
        the dashboard's IP filter takes: ``203.0.113.``, ``2001:db8:``),
        else ''."""
        text = str(self.data.get("q", "")).strip()
        return text if text and len(text) <= 45 and set(text) <= IP_CHARS else ""
