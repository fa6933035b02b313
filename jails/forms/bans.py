"""Ban and unban forms, shared by the dashboard, the IP page and the
jail page."""

from __future__ import annotations

from django import forms
from django.conf import settings

from jails.fail2ban import validation
from jails.forms.fields import CheckedField, NodeField, checked, split_list


class BanForm(forms.Form):
    ips = forms.CharField(label="IP addresses", max_length=20000,
                          widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
                          help_text="One or more IPv4/IPv6 addresses, separated by spaces, "
                                    "commas or new lines.")

    def clean_ips(self) -> list[str]:
        return checked(validation.ip_addresses, split_list(self.cleaned_data["ips"]))


EVERY_NODE = "*"


class UnbanForm(forms.Form):
    ip = CheckedField(validation.ip_address, max_length=64)
    jail = CheckedField(validation.jail_name, max_length=64, required=False)  # empty: all jails
    node = NodeField()  # empty: this host's fail2ban


class ManualBanForm(forms.Form):
    ip = CheckedField(validation.ip_address, label="IP address", max_length=64,
                         widget=forms.TextInput(attrs={"class": "mono",
                                                       "placeholder": "203.0.113.9"}))
    jail = forms.ChoiceField(label="Ban in jail")
    node = forms.ChoiceField(label="On node", required=False)

    def __init__(self, *args, jails: list[str] | None = None, nodes: list[str] | None = None,
                 **kwargs):
        """``nodes``: the fleet's other nodes, offered beside this host and
        "every node" (docs/fleet.md); None on a single host."""
        kwargs.setdefault("auto_id", "ban-%s")
        super().__init__(*args, **kwargs)
        self.fields["jail"].choices = [(j, j) for j in (jails or [])]
        if nodes is None:
            del self.fields["node"]
        else:
            here = f"this host ({settings.BANGUI_NODE})"
            self.fields["node"].choices = [("", here), *((n, n) for n in nodes),
                                           (EVERY_NODE, "every node")]

    def clean_jail(self) -> str:
        return checked(validation.jail_name, self.cleaned_data["jail"])
