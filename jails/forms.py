"""Forms of the jail pages, the config editor, the regex tester and the
server settings. Every value sent to fail2ban or written to a config file
is checked here first."""

from __future__ import annotations

import os
import re

from django import forms
from django.conf import settings

from jails import config_files
from jails.fail2ban import InvalidInput, validation

_TIME = re.compile(r"^-?\d+(\.\d+)?\s*(s|sec|m|min|h|hour|d|day|w|week|mo|y|year)?s?$", re.I)
_FILTER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}$")
LOGLEVELS = ["CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"]


def _split(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,;]+", text or "") if p]


class BanForm(forms.Form):
    ips = forms.CharField(label="IP addresses", max_length=20000,
                          widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
                          help_text="One or more IPv4/IPv6 addresses, separated by spaces, "
                                    "commas or new lines.")

    def clean_ips(self) -> list[str]:
        try:
            return validation.ip_addresses(_split(self.cleaned_data["ips"]))
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None


class UnbanForm(forms.Form):
    ip = forms.CharField(max_length=64)

    def clean_ip(self) -> str:
        try:
            return validation.ip_address(self.cleaned_data["ip"])
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None


class IgnoreForm(forms.Form):
    value = forms.CharField(label="IP or CIDR", max_length=64)

    def clean_value(self) -> str:
        try:
            return validation.ip_or_network(self.cleaned_data["value"])
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc)) from None


class IgnoreSelfForm(forms.Form):
    on = forms.BooleanField(required=False)


class IdleForm(forms.Form):
    on = forms.BooleanField(required=False)


def _time_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, max_length=20, required=False,
                           help_text="Seconds, or with a unit: 10m, 1h, 1d, 1w. "
                                     "Empty: leave as configured.")


class JailSettingsForm(forms.Form):
    bantime = _time_field("Ban time")
    findtime = _time_field("Find time")
    maxretry = forms.IntegerField(label="Max retries", min_value=1, max_value=10000,
                                  required=False)
    logpath = forms.CharField(label="Log files", required=False, max_length=4000,
                              widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
                              help_text="Absolute paths, one per line (globs allowed). "
                                        "Empty: leave as configured.")
    filter = forms.ChoiceField(label="Filter", required=False)

    def __init__(self, *args, filters: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["filter"].choices = [("", "(leave as configured)")] + [
            (f, f) for f in filters]

    def _clean_time(self, name: str) -> str:
        value = self.cleaned_data[name].strip()
        if value and not _TIME.match(value):
            raise forms.ValidationError("use seconds (600) or a number with a unit (10m, 1h)")
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


class FilterForm(forms.Form):
    name = forms.CharField(label="Filter name", max_length=64,
                           help_text="Saved as filter.d/NAME.local.")
    failregex = forms.CharField(label="failregex", max_length=20000,
                                widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
                                help_text="One regex per line; use <HOST> for the address.")
    ignoreregex = forms.CharField(label="ignoreregex", required=False, max_length=20000,
                                  widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not _FILTER.match(name):
            raise forms.ValidationError("letters, digits, '_', '.', '-' only")
        return name

    def text(self) -> str:
        def value(text: str) -> str:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            return "\n            ".join(lines)

        return ("# Created with BanGUI.\n[Definition]\n"
                f"failregex = {value(self.cleaned_data['failregex'])}\n"
                f"ignoreregex = {value(self.cleaned_data.get('ignoreregex', ''))}\n")


class FileEditForm(forms.Form):
    path = forms.CharField(widget=forms.HiddenInput, max_length=300)
    version = forms.CharField(widget=forms.HiddenInput, max_length=64)
    text = forms.CharField(label="Content", required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 24, "class": "mono editor",
                                                        "spellcheck": "false"}))

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].replace("\r\n", "\n")
        if len(text.encode()) > config_files.MAX_BYTES:
            raise forms.ValidationError(
                f"The text is larger than {config_files.MAX_BYTES // 1024} KB; nothing was "
                "saved.")
        return text


class RegexForm(forms.Form):
    filter_name = forms.ChoiceField(label="Existing filter", required=False)
    failregex = forms.CharField(label="…or failregex", required=False, max_length=20000,
                                widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
                                help_text="One regex per line; <HOST> captures the address.")
    ignoreregex = forms.CharField(label="ignoreregex", required=False, max_length=20000,
                                  widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))
    datepattern = forms.CharField(label="Date pattern", required=False, max_length=200,
                                  help_text="Optional, e.g. %%Y-%%m-%%d %%H:%%M:%%S or "
                                            "{^LN-BEG}.")
    lines = forms.CharField(label="Log lines", required=False, strip=False,
                            max_length=1024 * 1024,
                            widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}))
    log_path = forms.CharField(label="…or a log file", required=False, max_length=500,
                               help_text="An absolute path inside the allowed directories.")

    def __init__(self, *args, filters: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["filter_name"].choices = [("", "(paste a regex instead)")] + [
            (f, f) for f in filters]
        self.fields["log_path"].help_text += " Allowed: " + ", ".join(
            settings.BANGUI_REGEX_LOG_DIRS) + "."

    def clean(self):
        data = super().clean()
        if bool(data.get("filter_name")) == bool((data.get("failregex") or "").strip()):
            self.add_error("failregex", "Choose an existing filter or paste a failregex "
                                        "(one of the two).")
        if bool((data.get("lines") or "").strip()) == bool((data.get("log_path") or "").strip()):
            self.add_error("lines", "Paste log lines or name a log file (one of the two).")
        return data


class ServerSettingsForm(forms.Form):
    loglevel = forms.ChoiceField(label="Log level", choices=[(x, x) for x in LOGLEVELS])
    logtarget = forms.ChoiceField(label="Log target", choices=[
        ("STDOUT", "STDOUT"), ("STDERR", "STDERR"), ("SYSLOG", "SYSLOG"),
        ("FILE", "A file…")])
    logfile = forms.CharField(label="Log file", required=False, max_length=500,
                              help_text="When the target is a file: an absolute path inside "
                                        + ", ".join(settings.BANGUI_LOGTARGET_DIRS) + ".")
    dbpurgeage = forms.IntegerField(label="dbpurgeage (seconds)", min_value=0,
                                    max_value=10 * 365 * 86400,
                                    help_text="How long fail2ban keeps bans in its own db.")

    def clean(self):
        data = super().clean()
        if data.get("logtarget") == "FILE":
            path = (data.get("logfile") or "").strip()
            real = os.path.realpath(path) if path else ""
            dirs = [os.path.realpath(d) for d in settings.BANGUI_LOGTARGET_DIRS]
            if not path or not os.path.isabs(path) or "\x00" in path:
                self.add_error("logfile", "Give an absolute path for the log file.")
            elif not any(os.path.commonpath([real, d]) == d for d in dirs):
                self.add_error("logfile", "The log file must be inside "
                                          + ", ".join(settings.BANGUI_LOGTARGET_DIRS) + ".")
            else:
                data["target"] = path
        elif data.get("logtarget"):
            data["target"] = data["logtarget"]
        return data
