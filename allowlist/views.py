"""The allow-list page: entries (read by everyone signed in), add (with
"Add my address") and remove for support and above; ``allowlist/urls.py``
wires them. The change reaches fail2ban through allowlist.sync."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ban_or_unban
from allowlist import sync
from allowlist.forms import EntryForm
from allowlist.models import AllowEntry, Applied, listed
from bangui.clientip import client_ip
from jails.fail2ban import InvalidInput
from jails.fleet import dispatch
from jails.live import actions
from nodes.fleet import scope_choices


def _form(data=None) -> EntryForm:
    names, _ = scope_choices()
    return EntryForm(data, nodes=names, labels=dispatch.labels())


def _by_hand(ours: set[tuple[str, str, str]]) -> list[tuple[str, str, list[str]]]:
    """(node, jail, values) of the ignore lists' entries BanGUI did not put
    there: fail2ban's config (``ignoreip``) or a hand-made change, shown
    read-only beside the allow-list."""
    rows = []
    names, _ = scope_choices()
    for node in dict.fromkeys([settings.BANGUI_NODE, *names]):
        for jail, values in sorted(actions.ignore_lists(node).items()):
            theirs = [v for v in values if (node, jail, listed(v)) not in ours]
            if theirs:
                rows.append((node, jail, theirs))
    return rows


@require_GET
def allowlist(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    entries = list(AllowEntry.objects.all())
    applied = list(Applied.objects.values_list("node", "jail", "value"))
    where: dict[str, list[str]] = {}
    for node, jail, value in applied:
        where.setdefault(value, []).append(f"{jail} on {node}")
    for entry in entries:
        entry.expired = entry.is_expired(now)
        entry.listed_in = sorted(where.get(entry.value, []))
    _, multi_node = scope_choices()
    return render(request, "allowlist/allowlist.html", {
        "entries": entries, "form": _form(), "my_ip": client_ip(request),
        "by_hand": _by_hand(set(applied)), "multi_node": multi_node,
    })


@require_POST
@ban_or_unban
def allowlist_add(request: HttpRequest) -> HttpResponse:
    form = _form(request.POST)
    if not form.is_valid():
        _, multi_node = scope_choices()
        return render(request, "allowlist/allowlist.html", {
            "entries": AllowEntry.objects.all(), "form": form, "my_ip": client_ip(request),
            "by_hand": [], "multi_node": multi_node}, status=400)
    expires = form.cleaned_data["expires"]
    try:
        entry, sent = sync.add(
            form.cleaned_data["value"], actor=request.user.get_username(), by=request,
            note=form.cleaned_data["note"], jail=form.cleaned_data["jail"],
            expires_at=timezone.now() + expires if expires else None, **form.scope())
    except (InvalidInput, ValidationError) as exc:
        messages.error(request, f"Not added: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
        return redirect("allowlist")
    messages.success(request, f"Allow-listed {entry.value} ({entry.scope}). "
                              f"{sync.said(sent, 'added')}")
    return redirect("allowlist")


@require_POST
@ban_or_unban
def allowlist_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(AllowEntry, pk=pk)
    value, scope = entry.value, entry.scope
    sent = sync.remove(entry, actor=request.user.get_username(), by=request)
    messages.success(request, f"Removed {value} ({scope}) from the allow-list. "
                              + (sync.said(sent, "removed") if sent else ""))
    return redirect("allowlist")
