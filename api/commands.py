"""Writes: every fail2ban action of the API goes through the one dispatch
(jails/fleet/dispatch.py, docs/fleet.md "One road"), as the pages' do:
validated there (commands.clean), run here for this host's node, queued
for another (the answer is then 202 with the ticket to poll), audited with
the caller as the actor."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from api.auth import require_write
from api.errors import ApiError
from jails.fail2ban import Fail2banError
from jails.fleet import dispatch
from jails.fleet.dispatch import targets as node_targets
from jails.views.results import of_ticket


def answer(ticket: dispatch.Ticket) -> JsonResponse:
    """A ticket as the API's answer: 202 while some node is still to answer
    (poll ``poll``), else 200 when every node did it, 400 ``not_done`` when
    one did not (``detail`` and ``nodes`` say why)."""
    result = of_ticket(ticket)
    body = {
        "ok": result.ok and not ticket.pending,
        "message": result.message,
        "group": ticket.group,
        "pending": ticket.pending,
        "nodes": [{"node": r.node, "ok": r.ok, "pending": r.pending, "message": r.message}
                  for r in ticket.replies],
        "poll": reverse("api:command", kwargs={"group": ticket.group}),
    }
    if ticket.pending:
        return JsonResponse(body, status=202)
    if result.ok:
        return JsonResponse(body, status=200)
    return JsonResponse({"error": "not_done", "detail": result.message, **body}, status=400)


def send(request: HttpRequest, node: str | None, command: str, args: dict,
         action: str = "ban") -> JsonResponse:
    """Send ``command`` to ``node`` (None or "": this host's; "*": every
    node; "@label": the nodes labelled so) as the caller."""
    who = require_write(request, action)
    targets = node_targets(node or "")
    if not targets:
        raise ApiError(404, f"no registered node is labelled {node[1:]!r}")
    try:
        ticket = dispatch.submit(targets, command, args, who.user.get_username(), by=request)
    except Fail2banError as exc:  # refused before anything was sent (audited)
        raise ApiError(400, str(exc)) from None
    return answer(ticket)


def poll(request: HttpRequest, group: str) -> JsonResponse:
    """A command's answers so far (its ticket rebuilt from the audit rows
    the caller's command wrote)."""
    ticket = dispatch.find(group, request.user)
    if ticket is None:
        raise ApiError(404, "no command of yours has this group")
    return answer(dispatch.collect(ticket))


def import_blocklist(request: HttpRequest, pk: int) -> JsonResponse:
    """Queue one import of blocklist source ``pk`` on each of its target
    nodes, as the Blocklists page's "Import now" does (the download runs in
    the nodes' workers, never here): 202 with the nodes; the runs show in
    /api/v1/blocklists/{pk}/runs/."""
    from blocklists import schedules
    from blocklists.models import BlocklistSource

    who = require_write(request, "operate")
    source = BlocklistSource.objects.filter(pk=pk).first()
    if source is None:
        raise ApiError(404, f"no blocklist source #{pk}")
    nodes = schedules.import_now(source, who.user.get_username(), by=request)
    return JsonResponse({"ok": True, "queued": nodes, "message": f"Import of {source.name} "
                         f"queued on {', '.join(nodes) or 'no node'}.",
                         "runs": reverse("api:blocklist_runs", kwargs={"pk": pk})}, status=202)
