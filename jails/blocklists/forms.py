from __future__ import annotations

from django import forms
from django.conf import settings

from jails.blocklists.download import DownloadError, check_target
from jails.blocklists.models import BlocklistSource
from jails.fail2ban import validation
from jails.forms.fields import checked


class SourceForm(forms.ModelForm):
    interval_minutes = forms.TypedChoiceField(
        label="Schedule", coerce=int, choices=BlocklistSource.Every.choices,
        initial=BlocklistSource.Every.DAILY)

    class Meta:
        model = BlocklistSource
        fields = ["name", "url", "enabled", "interval_minutes", "jail"]
        labels = {"url": "URL", "jail": "Target jail"}
        widgets = {"url": forms.URLInput()}
        field_classes = {"url": forms.URLField}
        help_texts = {
            "url": "http or https; one IP address or CIDR network per line.",
            "jail": "Bans last this jail's bantime (fail2ban's banip takes no per-IP time).",
        }

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            check_target(url, allow_private=settings.BLOCKLIST_ALLOW_PRIVATE)
        except DownloadError as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean_jail(self) -> str:
        return checked(validation.jail_name, self.cleaned_data["jail"].strip())


class PreviewForm(forms.Form):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")

    def clean_url(self) -> str:
        return SourceForm.clean_url(self)  # same guard as saving a source
