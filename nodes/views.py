"""/nodes/: every node with its state, heartbeat, fail2ban and archive lag
(refreshed every 10 s by htmx, like ``manage.py nodes``). One node's page,
/nodes/NAME/, is the jails app's (jails/views/nodes.py): it shows and acts
on the node's jails, and this app never imports jails."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from bangui.htmx import render_page
from nodes.fleet import fleet, summary


@require_GET
def nodes_page(request: HttpRequest) -> HttpResponse:
    nodes = fleet()
    return render_page(request, "nodes/nodes.html", "node-table",
                       {"nodes": nodes, "summary": summary(nodes)})
