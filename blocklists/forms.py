from __future__ import annotations

from django import forms
from django.conf import settings

from blocklists.download import DownloadError, check_target
from blocklists.models import BlocklistSource
from jails.config.jail import BANGUI_JAILS
from jails.fail2ban import validation
from jails.forms.fields import checked
from nodes.fleet import fleet


class SourceForm(forms.ModelForm):
    interval_minutes = forms.TypedChoiceField(
        label="Schedule", coerce=int, choices=BlocklistSource.Every.choices,
        initial=BlocklistSource.Every.DAILY)
    # Where it is imported (docs/fleet.md); shown once a second node registers.
    target = forms.ChoiceField(label="Import on", required=False)
    target_nodes = forms.MultipleChoiceField(label="Nodes", required=False,
                                             widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        states = fleet()
        names = [s.name for s in states]
        labels = sorted({label for s in states for label in s.labels})
        self.fleet_mode = bool(set(names) - {settings.BANGUI_NODE})
        source = self.instance
        # Nodes a source names stay choosable even when they have not registered.
        chosen = list(source.target_nodes or []) if source.pk else []
        self.fields["target_nodes"].choices = [(n, n) for n in sorted({*names, *chosen})]
        self.fields["target"].choices = [
            ("", "every node"), *[(f"label:{label}", f"every node labelled {label}")
                                  for label in sorted({*labels, source.target_label} - {""})],
            ("nodes", "the nodes chosen below")]
        if source.pk and not self.is_bound:
            self.initial["target"] = (f"label:{source.target_label}" if source.target_label
                                      else "nodes" if source.target_nodes else "")
            self.initial["target_nodes"] = chosen

    def clean(self):
        data = super().clean()
        target = data.get("target") or ""
        nodes = data.get("target_nodes") or []
        if target == "nodes" and not nodes:
            self.add_error("target_nodes", "choose at least one node")
        self.instance.target_label = target.removeprefix("label:") if target.startswith(
            "label:") else ""
        self.instance.target_nodes = sorted(nodes) if target == "nodes" else []
        return data

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
        """A jail some node runs, or one of BanGUI's own (created on the
        Config page; the list says where it is still missing). Unchecked
        while no node has published its jails."""
        jail = checked(validation.jail_name, self.cleaned_data["jail"].strip())
        published = [s for s in fleet() if s.facts_at and s.fail2ban_up]
        running = sorted({name for s in published for name in s.jails})
        own = [j.name for j in BANGUI_JAILS]
        if published and jail not in running and jail not in own:
            raise forms.ValidationError(
                f"No node runs a jail named {jail!r}. Running: {', '.join(running) or 'none'}; "
                f"or one of BanGUI's own: {', '.join(own)}.")
        return jail


class PreviewForm(forms.Form):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")

    def clean_url(self) -> str:
        return SourceForm.clean_url(self)  # same guard as saving a source
