"""What every BanGUI view shares (the before-setup marker, one line of a
form's errors), and the project's own page: the fleet's nodes."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from bangui import nodes
from bangui.htmx import render_page


def form_errors(form: forms.Form) -> str:
    """A form's errors as one sentence for a result message or the audit
    trail (``"; "`` between them)."""
    return "; ".join(e for errs in form.errors.values() for e in errs)


def setup_not_required(view_func):
    """Mark a view reachable before setup is complete (read by
    accounts.middleware.SetupRequiredMiddleware: health probes, the wizard)."""
    view_func.setup_required = False
    return view_func


@require_GET
def nodes_page(request: HttpRequest) -> HttpResponse:
    """/nodes/: every node with its state, heartbeat, fail2ban and archive lag
    (refreshed every 10 s by htmx, like ``manage.py nodes``)."""
    states = nodes.fleet()
    return render_page(request, "nodes.html", "node-table",
                       {"nodes": states, "summary": nodes.summary(states)})
