"""One fleet node's page (/nodes/NAME/): its jails as the jail list shows
them (the same partial; each links to its jail page, /nodes/NAME/jails/JAIL/,
the same page and actions as this host's: jails/views/jails.py) and its
live bans (the jail page's table, with a jail column) as its
worker last published them (jails/fleet/live.py), with Unban and Reload
all through the one dispatch. The fleet list, /nodes/, is the
nodes app's; this page stays in jails because it shows and acts on the
node's jails (nodes never imports jails)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ban_or_unban, operate
from bangui.htmx import wants_fragment
from jails.fleet import live as fleet_live
from jails.forms.bans import UnbanForm
from jails.views import results
from jails.views.jails import node_jails
from jails.views.results import Result, refused, respond
from nodes.models import Node

PER_PAGE = 50


def _page(request: HttpRequest, name: str, result: Result | None = None,
          fragment: str | None = None) -> HttpResponse:
    """The page, or (an HTMX search or page of its banned list) ``fragment``.
    Commands answer with the whole page (their forms select #node-main)."""
    node = Node.objects.filter(pk=name).first()
    if node is None:
        return render(request, "jails/node_missing.html", {"name": name[:63]}, status=404)
    query = request.GET.get("q", "").strip()[:64]
    live = fleet_live.states([name])[name]
    bans = None
    if live.known:  # else: the page says why (down, not published, no database)
        bans = Paginator(fleet_live.banned(name, query), PER_PAGE).get_page(request.GET.get("page"))
    context = {"node": node, "other": node_jails(node), "result": result, "live": live,
               "bans": bans, "query": query}
    if fragment and wants_fragment(request):
        return render(request, f"jails/node.html#{fragment}", context)
    return render(request, "jails/node.html", context)


@login_required
@require_GET
def node_detail(request: HttpRequest, name: str) -> HttpResponse:
    return _page(request, name, fragment="node-banned")


@require_POST
@ban_or_unban
def node_unban(request: HttpRequest, name: str) -> HttpResponse:
    """Unban an address from one of the node's jails, through its cluster."""
    form = UnbanForm({**request.POST.dict(), "node": name})
    if not form.is_valid():
        result = refused(request, "unban", request.POST.get("ip", "")[:100], form,
                         "Nothing was unbanned: ")
    else:
        result = results.unban(request, form.cleaned_data["ip"], form.cleaned_data["jail"],
                               name)
    return respond(request, result, lambda r: _page(request, name, r),
                   reverse("node_detail", args=[name]))


@require_POST
@operate
def node_jail(request: HttpRequest, name: str) -> HttpResponse:
    """Reload every jail on the node from its config, through its cluster
    (a jail's own actions are on its jail page)."""
    return respond(request, results.command(request, [name], "reload", {}),
                   lambda r: _page(request, name, r), reverse("node_detail", args=[name]))
