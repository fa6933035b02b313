"""The jail page's forms: ignore list, idle, and the jail's settings."""

from __future__ import annotations

import os
import re

from django import forms

from bangui.widgets import PlainSelect
from jails.fail2ban import validation
from jails.forms.fields import CheckedField

# fail2ban's own time syntax (MyTime.str2seconds, read where it reads bantime
# and findtime): numbers with units, joined by spaces, "+" or "-": "600",
# "10m", "1h 30m", "1d12h", "1hour+30min", "1year-6mo", "-1" (permanent).
# fail2ban evals the expression, so only this grammar passes, and no leading
# zeros ("010" is a Python syntax error there). The value goes to fail2ban
# as typed, spaces collapsed.
_UNIT = (r"(?:years?|yea?|yy?|months?|mon?|weeks?|wee?|ww?|days?|da|dd?|hours?|hou?|hh?"
         r"|minutes?|min?|mm?|seconds?|sec?|ss?)")
_NUM = r"(?:0|[1-9]\d*)(?:\.\d+)?"
_SEP = r"(?: ?[+-] ?| )"  # a bare number needs one before the next ("1d12h" does not)
_TIME = re.compile(rf"-? ?(?:{_NUM} ?{_UNIT}{_SEP}?|{_NUM}{_SEP})*{_NUM}(?: ?{_UNIT})?", re.I)


class IgnoreForm(forms.Form):
    value = CheckedField(validation.ip_or_network, label="IP or CIDR", max_length=64)


class IgnoreSelfForm(forms.Form):
    on = forms.BooleanField(required=False)


class IdleForm(forms.Form):
    on = forms.BooleanField(required=False)


def _time_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, max_length=20, required=False,
                           help_text="Seconds, or fail2ban's time syntax: 10m, 1h 30m, 1d12h, "
                                     "1hour+30min; -1: permanent. Empty: leave as configured.")


LOGPATH_NEEDS_CONFIG = ("Changing a jail's log files needs permission to edit the "
                        "configuration.")
LOGPATH_NOT_FOR_JOURNAL = ("This jail reads the systemd journal (backend = systemd): it has "
                           "no log files. Its journalmatch chooses what it reads; change it "
                           "in the file editor.")


class JailSettingsForm(forms.Form):
    bantime = _time_field("Ban time")
    findtime = _time_field("Find time")
    maxretry = forms.IntegerField(label="Max retries", min_value=1, max_value=10000,
                                  required=False)
    logpath = forms.CharField(label="Log files", required=False, max_length=4000,
                              widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
                              help_text="Absolute paths, one per line (globs allowed). "
                                        "Empty: leave as configured.")
    filter = forms.ChoiceField(label="Filter", required=False, widget=PlainSelect)

    def __init__(self, *args, filters: list[str] = (), may_set_logpath: bool = False,
                 journal: bool = False, **kwargs):
        """``journal``: the jail reads the systemd journal, so there is no
        log path to ask for (fail2ban ignores one there)."""
        super().__init__(*args, **kwargs)
        self.fields["filter"].choices = [("", "(leave as configured)")] + [
            (f, f) for f in filters]
        self.journal = journal
        if journal:
            del self.fields["logpath"]
        elif not may_set_logpath:
            # Pointing a jail at any file root can read would show its
            # matching lines to everyone: the config editors' right. A
            # disabled field ignores what is posted for it.
            field = self.fields["logpath"]
            field.disabled = True
            field.help_text = LOGPATH_NEEDS_CONFIG
        self.may_set_logpath = may_set_logpath

    def clean(self):
        data = super().clean()
        # Browsers do not send a disabled field: one sent anyway is refused
        # with why, not silently dropped.
        sent = str(self.data.get("logpath", "")).strip()
        if self.journal and sent:
            self.add_error(None, LOGPATH_NOT_FOR_JOURNAL)
        elif not self.may_set_logpath and sent:
            self.add_error("logpath", LOGPATH_NEEDS_CONFIG)
        return data

    def _clean_time(self, name: str) -> str:
        value = " ".join(self.cleaned_data[name].split())
        if value and not _TIME.fullmatch(value):
            raise forms.ValidationError("use seconds (600) or fail2ban's time syntax "
                                        "(10m, 1h 30m, 1d12h, 1hour+30min; -1: permanent)")
        return value

    def clean_bantime(self) -> str:
        return self._clean_time("bantime")

    def clean_findtime(self) -> str:
        return self._clean_time("findtime")

    def clean_logpath(self) -> list[str]:
        paths = [ln.strip() for ln in self.cleaned_data["logpath"].splitlines() if ln.strip()]
        for p in paths:
            if not os.path.isabs(p) or "\x00" in p or "%" in p:
                raise forms.ValidationError(f"{p!r}: give an absolute path")
        return paths

    def values(self, current: dict | None = None) -> dict[str, str]:
        """The non-empty fields that differ from ``current`` (what the page
        showed), so saving a prefilled form writes only what was changed."""
        data = self.cleaned_data
        out = {k: str(data[k]) for k in ("bantime", "findtime", "maxretry", "filter")
               if data.get(k) not in (None, "")}
        if data.get("logpath"):
            out["logpath"] = "\n".join(data["logpath"])
        current = current or {}

        def norm(value) -> str:
            return "\n".join(ln.strip() for ln in str(value).splitlines() if ln.strip())

        return {k: v for k, v in out.items()
                if k not in current or norm(v) != norm(current[k])}
