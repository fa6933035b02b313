"""Ban and unban forms, shared by the dashboard, the IP page and the
jail page."""

from __future__ import annotations

from django import forms
from django.conf import settings

from jails.fail2ban import validation
from jails.fleet.dispatch import EVERY_NODE, LABEL_PREFIX
from jails.forms.fields import CheckedField, NodeField, checked, split_list
from nodes.fleet import fleet


class BanForm(forms.Form):
    ips = forms.CharField(label="IP addresses", max_length=20000,
                          widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
                          help_text="One or more IPv4/IPv6 addresses or networks "
                                    "(203.0.113.0/24), separated by spaces, commas or new "
                                    "lines.")

    def clean_ips(self) -> list[str]:
        return checked(validation.ban_targets, split_list(self.cleaned_data["ips"]))


PERMANENT_JAIL = "permanent"  # BanGUI's own (jails.config.jail.BANGUI_JAILS), bantime -1


class UnbanForm(forms.Form):
    ip = CheckedField(validation.ban_target, max_length=64)  # an address or a banned network
    jail = CheckedField(validation.jail_name, max_length=64, required=False)  # empty: all jails
    node = NodeField()  # empty: this host's fail2ban


class ManualBanForm(forms.Form):
    # An address or a network (validation.ban_target: none wider than /16
    # for IPv4, /32 for IPv6).
    ip = CheckedField(validation.ban_target, label="IP address or network", max_length=64,
                      widget=forms.TextInput(attrs={
                          "class": "mono", "placeholder": "203.0.113.9 or 203.0.113.0/24"}))
    jail = forms.ChoiceField(label="Ban in jail")
    node = forms.ChoiceField(label="On node", required=False)
    # fail2ban has no per-ban time: a permanent ban goes to BanGUI's jail
    # "permanent" (bantime -1), whatever jail is chosen.
    permanent = forms.BooleanField(label="Permanently", required=False,
                                   help_text=f"into the jail {PERMANENT_JAIL} (bantime -1)")

    def __init__(self, *args, jails: list[str] | None = None, nodes: list[str] | None = None,
                 labels: list[str] = (), here: bool = True, **kwargs):
        """``nodes``: the fleet's other nodes, offered beside this host,
        "every node" and every node of each of ``labels`` (docs/fleet.md);
        None on a single host."""
        kwargs.setdefault("auto_id", "ban-%s")
        super().__init__(*args, **kwargs)
        self.fields["jail"].choices = [(j, j) for j in (jails or [])]
        if nodes is None:
            del self.fields["node"]
        else:
            # ``here`` False: this host is no node (a web-only host), so its
            # own fail2ban is not offered.
            self.fields["node"].choices = [
                *([("", f"this host ({settings.BANGUI_NODE})")] if here else []),
                *((n, n) for n in nodes), (EVERY_NODE, "every node"),
                *((LABEL_PREFIX + label, f"every node labelled {label}") for label in labels)]

    @classmethod
    def here_and_fleet(cls, jails: list[str], initial: dict, multi_node: bool) -> ManualBanForm:
        """The form a page shows: this host's ``jails``; in a fleet also every
        node's (as their workers last reported them), the other nodes and
        their labels."""
        if not multi_node:
            return cls(jails=jails, initial=initial)

        states = fleet()
        return cls(jails=sorted(set(jails).union(*(s.jails for s in states))),
                   nodes=[s.name for s in states if s.name != settings.BANGUI_NODE],
                   labels=sorted({label for s in states for label in s.labels}),
                   here=any(s.name == settings.BANGUI_NODE for s in states), initial=initial)

    def clean_jail(self) -> str:
        return checked(validation.jail_name, self.cleaned_data["jail"])

    def clean(self) -> dict:
        data = super().clean()
        if data.get("permanent"):
            data["jail"] = PERMANENT_JAIL
        return data
