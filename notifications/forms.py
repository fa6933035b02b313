"""The channel and rule forms. A channel's URL is write-only: blank on
edit keeps the stored one ("set"/"replace")."""

from __future__ import annotations

from django import forms

from nodes import nodename
from notifications import transports, watch
from notifications.models import Channel, Rule


def check_url(url: str) -> str:
    url = url.strip()
    try:
        transports.check(url)
    except transports.InvalidURL as exc:
        raise forms.ValidationError(str(exc)) from None
    return url


class ChannelForm(forms.ModelForm):
    url = forms.CharField(
        label="URL", required=False, strip=True, max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="An apprise URL (ntfys://ntfy.example.com/topic, tgram://TOKEN/CHAT, "
                  "json://host/path …) or BanGUI's signed webhook: "
                  "bangui+https://host/path?secret=SECRET. Never shown again.")

    class Meta:
        model = Channel
        fields = ["name", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["url"].help_text = ("Set. Leave empty to keep it; type a new one to "
                                            "replace it.")
        else:
            self.fields["url"].required = True

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        return check_url(url) if url else url

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        if self.cleaned_data.get("url"):
            channel.set_url(self.cleaned_data["url"])
        if commit:
            channel.save()
        return channel


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["name", "kind", "node", "threshold", "percent", "window_minutes", "watched",
                  "period", "severity", "quiet_minutes", "channels", "enabled"]
        widgets = {"channels": forms.CheckboxSelectMultiple,
                   "watched": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only a digest reads it: a script posting another kind need not send it.
        self.fields["period"].required = False

    def clean_period(self) -> str:
        return self.cleaned_data["period"] or Rule.Period.DAILY

    def clean_node(self) -> str:
        node = self.cleaned_data["node"].strip()
        if not node:
            return ""
        try:
            return nodename.clean(node)
        except nodename.BadNodeName as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_watched(self) -> str:
        text = self.cleaned_data["watched"]
        try:
            watch.parse(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return text

    def clean(self):
        data = super().clean()
        if data.get("kind") == Rule.Kind.WATCHED and not (data.get("watched") or "").strip():
            self.add_error("watched", "Name at least one address, network, country or ASN "
                                      "to watch.")
        if data.get("window_minutes") == 0:
            self.add_error("window_minutes", "A window of at least one minute.")
        return data
