"""Forms of the jail pages, the config editor, the regex tester and the
server settings. Every value sent to fail2ban or written to a config file
is checked here first."""

from __future__ import annotations

import os
import re

from django import forms
from django.conf import settings

from jails import config_files
from jails.constants import BAN_TABLE_SORTS, Origin, Window
from jails.dashboard import UNKNOWN_COUNTRY
from jails.fail2ban import InvalidInput, validation

_TIME = re.compile(r"-?\d+(\.\d+)?\s*(s|sec|m|min|h|hour|d|day|w|week|mo|y|year)?s?", re.I)
_FILTER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}")
# The dashboard's ban table.
DEFAULT_SORT = "-banned_at"
PER_PAGE_CHOICES = (10, 25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
_IP_CHARS = set("0123456789abcdefABCDEF:.")
LOGLEVELS = ["CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"]


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


def form_errors(form: forms.Form) -> str:
    return "; ".join(e for errs in form.errors.values() for e in errs)


def _split(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,;]+", text or "") if p]


class BanForm(forms.Form):
    ips = forms.CharField(label="IP addresses", max_length=20000,
                          widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
                          help_text="One or more IPv4/IPv6 addresses, separated by spaces, "
                                    "commas or new lines.")

    def clean_ips(self) -> list[str]:
        return checked(validation.ip_addresses, _split(self.cleaned_data["ips"]))


class UnbanForm(forms.Form):
    ip = CheckedField(validation.ip_address, max_length=64)
    jail = CheckedField(validation.jail_name, max_length=64, required=False)  # empty: all jails


class IPSearchForm(forms.Form):
    q = CheckedField(validation.ip_address, label="IP address", max_length=64)


class IgnoreForm(forms.Form):
    value = CheckedField(validation.ip_or_network, label="IP or CIDR", max_length=64)


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
        if value and not _TIME.fullmatch(value):
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
                                help_text="One regex per line; use &lt;HOST&gt; for the address.")
    ignoreregex = forms.CharField(label="ignoreregex", required=False, max_length=20000,
                                  widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not _FILTER.fullmatch(name):
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
                                help_text="One regex per line; &lt;HOST&gt; captures the address.")
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


class BanTableFilterForm(forms.Form):
    """The dashboard's query string. Bad values fall back to their default."""

    window = forms.ChoiceField(choices=Window.choices, required=False)
    jail = CheckedField(validation.jail_name, max_length=64, required=False)
    country = forms.CharField(max_length=7, required=False)
    origin = forms.ChoiceField(choices=[("", "any"), *Origin.choices], required=False)
    ip = forms.CharField(label="IP", max_length=45, required=False)
    sort = forms.ChoiceField(choices=[(s, s) for f in BAN_TABLE_SORTS for s in (f, f"-{f}")],
                             required=False)
    page = forms.IntegerField(min_value=1, max_value=10**9, required=False)
    per_page = forms.TypedChoiceField(choices=[(n, n) for n in PER_PAGE_CHOICES], coerce=int,
                                      required=False, empty_value=DEFAULT_PER_PAGE)

    DEFAULTS = {"window": Window.DAY.value, "jail": "", "country": "", "origin": "", "ip": "",
                "sort": DEFAULT_SORT, "page": 1, "per_page": DEFAULT_PER_PAGE}

    def clean_country(self) -> str:
        value = self.cleaned_data["country"].strip()
        if value.lower() == UNKNOWN_COUNTRY:
            return UNKNOWN_COUNTRY
        if value and not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise forms.ValidationError("use a two-letter country code or “unknown”")
        return value.upper()

    def clean_ip(self) -> str:
        value = self.cleaned_data["ip"].strip()
        if not set(value) <= _IP_CHARS:
            raise forms.ValidationError("an IP address or the start of one (digits, a-f, . and :)")
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


class ManualBanForm(forms.Form):
    ip = CheckedField(validation.ip_address, label="IP address", max_length=64,
                         widget=forms.TextInput(attrs={"class": "mono",
                                                       "placeholder": "203.0.113.9"}))
    jail = forms.ChoiceField(label="Ban in jail")

    def __init__(self, *args, jails: list[str] | None = None, **kwargs):
        kwargs.setdefault("auto_id", "ban-%s")
        super().__init__(*args, **kwargs)
        self.fields["jail"].choices = [(j, j) for j in (jails or [])]

    def clean_jail(self) -> str:
        return checked(validation.jail_name, self.cleaned_data["jail"])
