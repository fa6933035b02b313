"""The IP search box."""

from __future__ import annotations

from django import forms

from jails.fail2ban import validation
from jails.forms.fields import CheckedField


class IPSearchForm(forms.Form):
    q = CheckedField(validation.ip_address, label="IP address", max_length=64)
