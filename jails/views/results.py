"""How a view that changes something answers: one :class:`Result`,
audited, shown where the user is looking.

Every action view reads the same: parse the form (a refusal is
:func:`refused`), call one function through :func:`perform` (its error
becomes the message), then :func:`respond`: HTMX gets the refreshed
fragment with the message inline (200 even for a refused action: htmx
swaps only 2xx answers), a plain form a flash message and a redirect back.
A question ("ban anyway?") is shown on the page either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import audit
from bangui.clientip import client_ip
from bangui.htmx import wants_fragment
from bangui.views import form_errors
from jails.config import files as config_files
from jails.fail2ban import Fail2banError
from jails.fleet import dispatch
from jails.live import actions


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str
    confirm: dict | None = None  # the fields a "… anyway?" form sends again
    rolled_back: bool = False  # a config change fail2ban refused, undone
    pending: str = ""  # nodes still to answer: the ticket the page polls (dispatch)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, outcome: config_files.Outcome, message: str | None = None) -> Result:
        """A config transaction's outcome; ``message`` replaces its own on success."""
        return cls(outcome.ok, message if outcome.ok and message else outcome.message,
                   rolled_back=outcome.rolled_back)


# -- answers a page shows (a node's config file, a save, a regex test) ------------
# Sent to another node, such a command answers later: the page shows a
# waiting block (partials/waiting.html) that asks the same view again every
# second with the ticket's group. The session keeps which tickets are this
# browser's (and for which command), so a group guessed or copied from
# elsewhere reads nothing.
TICKETS = "bangui.tickets"
KEEP_TICKETS = 20


def remember(request: HttpRequest, command: str, ticket: dispatch.Ticket) -> None:
    tickets = dict(request.session.get(TICKETS, {}))
    tickets[ticket.group] = [command, [r.node for r in ticket.replies], ticket.deadline]
    request.session[TICKETS] = dict(list(tickets.items())[-KEEP_TICKETS:])


def ticket_of(request: HttpRequest, command: str) -> dispatch.Ticket | None:
    """The ticket a poll asks about (its ``ticket`` parameter), its nodes
    still pending; None for a request that sends the command. A group this
    session did not send for ``command`` answers "unknown" at once."""
    group = request.POST.get("ticket") or request.GET.get("ticket")
    if not group:
        return None
    known = request.session.get(TICKETS, {}).get(group)
    if not known or known[0] != command:
        return dispatch.Ticket(group, (dispatch.Reply(
            "", False, "this answer is not known here (another browser or an expired "
                       "session sent it): try again"),), 0)
    _, nodes, deadline = known
    return dispatch.Ticket(group, tuple(dispatch.Reply(n, False, "", pending=True)
                                        for n in nodes), deadline)


def waiting(request: HttpRequest, command: str, pending: dispatch.Pending, *, url: str,
            target: str, include: str = "") -> dict:
    """The context of the waiting block for a command still unanswered:
    it asks ``url`` again (GET, or POST with the fields of ``include``)
    every second, replacing ``target`` with the answer."""
    remember(request, command, pending.ticket)
    return {"waiting": {"nodes": ", ".join(pending.ticket.pending), "url": url,
                        "group": pending.ticket.group, "target": target,
                        "method": "post" if request.method == "POST" else "get",
                        "include": include}}


def refused(request: HttpRequest, action: str, target: str, form, prefix: str = "") -> Result:
    """A form that did not validate: audited, nothing done."""
    reason = form_errors(form)
    audit.record(request, action, target=target[:200], result=audit.FAILED, detail=reason)
    return Result(False, prefix + reason)


def refused_because(request: HttpRequest, action: str, target: str, reason: str) -> Result:
    """An action refused before anything was sent, for ``reason``: audited."""
    audit.record(request, action, target=target[:200], result=audit.FAILED, detail=reason)
    return Result(False, reason)


def command(request: HttpRequest, nodes: list[str], name: str, args: dict) -> Result:
    """Send fail2ban command ``name`` (jails/fleet/commands.py) to ``nodes``
    through the one dispatch: run here now for this host's node, queued for
    the others (the Result then carries the ticket, and the page polls for
    the answers). Audited by the dispatch, one row per node."""
    try:
        ticket = dispatch.submit(nodes, name, args, request.user.get_username(), by=request)
    except Fail2banError as exc:  # bad input: nothing sent (audited as refused)
        return Result(False, str(exc))
    return of_ticket(ticket)


def of_ticket(ticket: dispatch.Ticket) -> Result:
    """What a ticket says in one message: each answer once with the nodes
    that gave it, who is still to answer, and where it was not done and why.
    This host's node is not named on a single host's page."""
    here = settings.BANGUI_NODE
    alone = [r.node for r in ticket.replies] == [here]
    done: dict[str, list[str]] = {}
    for r in ticket.replies:
        if r.ok:
            done.setdefault(r.message, []).append(r.node)
    parts = [message if alone else f"On {', '.join(nodes)}: {message}"
             for message, nodes in done.items()]
    failed = [r for r in ticket.replies if not r.ok and not r.pending]
    if failed:
        parts.append(failed[0].message if alone else
                     "Not done on " + "; ".join(f"{r.node} ({r.message})" for r in failed) + ".")
    if ticket.pending:
        parts.append(f"Waiting for {', '.join(ticket.pending)} to answer…")
    return Result(not failed, " ".join(parts) or "No node to send it to.",
                  rolled_back=any(((r.data or {}).get("outcome") or {}).get("rolled_back")
                                  for r in failed),
                  pending=ticket.group if ticket.pending else "")


def ban(request: HttpRequest, jail: str, ips: list[str], confirm: dict,
        node: str = "") -> Result:
    """Ban ``ips`` in ``jail`` on ``node`` (see :func:`jails.fleet.dispatch.targets`). An
    address of the jail's ignore list, an allow-listed one, or the admin's own, is
    banned only once the form comes back with ``confirm``: until then the
    Result asks, carrying ``confirm`` (the fields to send again). The
    question is the same on every node (another's ignore list as it
    published it)."""
    targets = dispatch.targets(node)
    if not request.POST.get("confirm"):
        reasons = actions.ban_warnings(jail, ips, client_ip(request), targets)
        if reasons:
            return Result(False, "Not banned yet: " + "; ".join(reasons) + ". Ban anyway?",
                          confirm=confirm)
    return command(request, targets, "ban", {"jail": jail, "ips": ips})


def unban(request: HttpRequest, ip: str, jail: str = "", node: str = "") -> Result:
    """Unban from one jail (or every jail) on ``node``, noted in the archive."""
    return command(request, dispatch.targets(node), "unban",
                   {"ips": [ip], **({"jail": jail} if jail else {})})


def respond(request: HttpRequest, result: Result, fragment: Callable[[Result], HttpResponse],
            back: str) -> HttpResponse:
    """HTMX, or a question: ``fragment(result)``; a plain form: the message
    as a flash and a redirect to ``back``."""
    if wants_fragment(request) or result.confirm is not None:
        return fragment(result)
    messages.add_message(request, messages.SUCCESS if result.ok else messages.ERROR,
                         result.message)
    return redirect(back)
