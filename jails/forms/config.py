"""The config page's forms: a new filter, a file edit, the regex
tester and fail2ban's server settings. Every value written to a config
file or sent to fail2ban is checked here first."""

from __future__ import annotations

import os

from django import forms
from django.conf import settings

from bangui.widgets import PlainSelect
from jails.config import files as config_files
from jails.config import regex as regex_tester
from jails.fail2ban import validation
from jails.forms.fields import CheckedField

LOGLEVELS = ["CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"]


class FilterForm(forms.Form):
    name = CheckedField(validation.filter_name, label="Filter name", max_length=64,
                        help_text="Saved as filter.d/NAME.local.")
    failregex = forms.CharField(label="failregex", max_length=20000,
                                widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
                                help_text="One regex per line; use &lt;HOST&gt; for the address.")
    ignoreregex = forms.CharField(label="ignoreregex", required=False, max_length=20000,
                                  widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))

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


class NodeChoiceField(forms.ChoiceField):
    """A choice of node where "" is this host: this host's node by its name
    is taken as "" too (a link or a script may name it; one dispatch runs
    it here either way)."""

    def to_python(self, value):
        value = super().to_python(value)
        return "" if value == settings.BANGUI_NODE else value


LOG_FILES_NEED_CONFIG = ("Testing against a log file or the journal needs permission to "
                         "edit the configuration; paste the log lines instead.")


class RegexForm(forms.Form):
    filter_name = forms.ChoiceField(label="Existing filter", required=False, widget=PlainSelect)
    failregex = forms.CharField(label="…or failregex", required=False, max_length=20000,
                                widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
                                help_text="One regex per line; &lt;HOST&gt; captures the address.")
    ignoreregex = forms.CharField(label="ignoreregex", required=False, max_length=20000,
                                  widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))
    datepattern = forms.CharField(label="Date pattern", required=False, max_length=200,
                                  help_text="Optional, e.g. %Y-%m-%d %H:%M:%S or "
                                            "{^LN-BEG}.")
    lines = forms.CharField(label="Log lines", required=False, strip=False,
                            max_length=1024 * 1024,
                            widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}))
    log_path = forms.CharField(label="…or a log file", required=False, max_length=500,
                               help_text="An absolute path inside the allowed directories.")
    journal = forms.ChoiceField(label="…or the systemd journal", required=False,
                                help_text="Read by fail2ban-regex with the jail's backend "
                                          "options and journalmatch.")
    node = NodeChoiceField(label="Run on", required=False)

    def __init__(self, *args, filters: list[str] = (), nodes: list[str] | None = None,
                 may_read_logs: bool = False, **kwargs):
        """``nodes``: the fleet's other nodes, where the test may run instead
        (their filter.d and their log files; docs/fleet.md); None: a
        single host, no choice shown. ``may_read_logs``: whether the user
        may test against a log file (``accounts.roles.can_edit_config``;
        docs/security.md, "What a viewer can see"); without it the field is
        not offered and a log file sent anyway is refused."""
        super().__init__(*args, **kwargs)
        self.may_read_logs = may_read_logs
        self.fields["filter_name"].choices = [("", "(paste a regex instead)")] + [
            (f, f) for f in filters]
        if nodes is None:
            del self.fields["node"]
        else:
            self.fields["node"].choices = [("", "this host")] + [(n, n) for n in nodes]
        self.journal_problem = None
        if may_read_logs:
            self.fields["log_path"].help_text += " Allowed: " + ", ".join(
                settings.BANGUI_REGEX_LOG_DIRS) + "."
            # The journal too shows every line it holds: the same right.
            self.fields["journal"].choices = [("", "(not the journal)"),
                                              *regex_tester.journal_choices()]
            self.journal_problem = regex_tester.journal_problem()
        else:
            del self.fields["log_path"]
            del self.fields["journal"]

    def clean(self):
        data = super().clean()
        if bool(data.get("filter_name")) == bool((data.get("failregex") or "").strip()):
            self.add_error("failregex", "Choose an existing filter or paste a failregex "
                                        "(one of the two).")
        if not self.may_read_logs:
            # The field is not offered; a log file named anyway (a crafted
            # POST, an old page) is refused, and nothing runs.
            data["log_path"] = data["journal"] = ""
            if any(str(self.data.get(k) or "").strip() for k in ("log_path", "journal")):
                self.add_error(None, LOG_FILES_NEED_CONFIG)
            elif not (data.get("lines") or "").strip():
                self.add_error("lines", "Paste the log lines to test.")
        elif sum(bool((data.get(k) or "").strip())
                 for k in ("lines", "log_path", "journal")) != 1:
            self.add_error("lines", "Paste log lines, name a log file or choose the journal "
                                    "(one of them).")
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
