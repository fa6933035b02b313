"""One fleet node's page (/nodes/NAME/): its jails and their counters as its
worker last published them, and jail control sent to its cluster (stop,
start, reload: jails/fleet/commands.py). The fleet list is bangui's
/nodes/."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import operate
from bangui.models import Node
from bangui.nodes import state_of
from jails.fail2ban import validation
from jails.forms.fields import CheckedField
from jails.views import results
from jails.views.results import Result, refused, respond

DONE = {"stop": "Stopped", "start": "Started", "reload": "Reloaded"}


class NodeJailForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in DONE])
    jail = CheckedField(validation.jail_name, max_length=64, required=False)  # reload: all

    def clean(self):
        data = super().clean()
        if data.get("action") in ("stop", "start") and not data.get("jail"):
            raise forms.ValidationError("say which jail")
        return data


def _page(request: HttpRequest, name: str, result: Result | None = None) -> HttpResponse:
    row = Node.objects.filter(pk=name).first()
    if row is None:
        return render(request, "jails/node_missing.html", {"name": name[:63]}, status=404)
    node = state_of(row)
    jails = [{"name": j, **node.jail_counts.get(j, {})} for j in node.jails]
    return render(request, "jails/node.html", {"node": node, "jails": jails, "result": result})


@login_required
@require_GET
def node_detail(request: HttpRequest, name: str) -> HttpResponse:
    return _page(request, name)


@require_POST
@operate
def node_jail(request: HttpRequest, name: str) -> HttpResponse:
    """Stop, start or reload a jail (or, reload without a jail, the whole
    config) on the node, through its cluster."""
    form = NodeJailForm(request.POST)
    if not form.is_valid():
        result = refused(request, "jail.command", name, form, "Nothing was sent: ")
    else:
        action, jail = form.cleaned_data["action"], form.cleaned_data["jail"] or None
        what = jail or "all jails"
        result = results.on_nodes(request, f"jail.{action}", what, [name], action,
                                  {"jail": jail}, f"{DONE[action]} {what}")
    return respond(request, result, lambda r: _page(request, name, r),
                   reverse("node_detail", args=[name]))
