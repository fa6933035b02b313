"""The token page's form (the CLI's twin: manage.py api_token create)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from api import tokens
from api.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False,
                           help_text="What it is for (an IDS, a Grafana panel …).")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=3650,
                                 required=False, help_text="Empty: never.")
    allow = forms.CharField(label="Allowed networks", required=False, max_length=2000,
                            help_text="CIDR networks it may be used from, separated by "
                                      "spaces or commas (192.0.2.0/24). Empty: any address.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if tokens.may(user, "users"):  # admins make tokens for others too
            self.fields["owner"] = forms.ModelChoiceField(
                queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
                initial=user.pk, to_field_name="pk")
        elif not tokens.may(user, "ban"):  # a write token could not write
            self.fields["scope"].choices = [(ApiToken.Scope.READ, "read-only")]

    def clean_allow(self) -> list[str]:
        values = [v for v in self.cleaned_data["allow"].replace(",", " ").split() if v]
        try:
            return tokens.networks(values)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def owner(self):
        return self.cleaned_data.get("owner") or self.user
