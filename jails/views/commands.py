"""The answer of a command sent to fleet nodes, polled by the page that sent
it (partials/result.html: ``every 1s`` while a node is still to answer).
The web never waits on a node: jails/fleet/dispatch.py."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import audit
from jails.fleet import dispatch
from jails.views.results import Result, of_ticket

DONE = 286  # htmx stops polling on this status (and still swaps the answer in)


@login_required
@require_GET
def command_answer(request: HttpRequest, group: str) -> HttpResponse:
    """The command's message as it stands now: the answers read from
    django-q2's results and settled in the audit trail. Only its sender may
    read it."""
    audit.settle_unanswered()  # no row stays pending, also under nodes' own roles
    ticket = dispatch.find(group, request.user)
    if ticket is None:
        result = Result(False, "No such command of yours (it may have been purged from the "
                               "audit trail).")
        return render(request, "partials/result.html", {"result": result}, status=DONE)
    result = of_ticket(dispatch.collect(ticket))
    return render(request, "partials/result.html", {"result": result},
                  status=200 if result.pending else DONE)
