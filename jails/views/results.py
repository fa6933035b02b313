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
from jails.fleet import commands as fleet_commands
from jails.forms.bans import EVERY_NODE, LABEL_PREFIX
from jails.live import actions


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str
    confirm: dict | None = None  # the fields a "… anyway?" form sends again
    rolled_back: bool = False  # a config change fail2ban refused, undone

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, outcome: config_files.Outcome, message: str | None = None) -> Result:
        """A config transaction's outcome; ``message`` replaces its own on success."""
        return cls(outcome.ok, message if outcome.ok and message else outcome.message,
                   rolled_back=outcome.rolled_back)


def refused(request: HttpRequest, action: str, target: str, form, prefix: str = "") -> Result:
    """A form that did not validate: audited, nothing done."""
    reason = form_errors(form)
    audit.record(request, action, target=target[:200], result=audit.FAILED, detail=reason)
    return Result(False, prefix + reason)


def perform(request: HttpRequest, action: str, target: str, func: Callable,
            success: str | Callable[[object], str]) -> Result:
    """Call ``func()`` and audit it. ``success``: the message, formatted with
    ``{detail}`` (what ``func`` returned), or a function of it. fail2ban's
    and the config transaction's errors become a failed Result; a config
    Outcome keeps its own verdict."""
    node = settings.BANGUI_NODE  # the direct path: this host's fail2ban
    try:
        detail = func()
    except (Fail2banError, config_files.ConfigError) as exc:
        audit.record(request, action, target=target, result=audit.FAILED, detail=str(exc),
                     node=node)
        return Result(False, str(exc))
    if isinstance(detail, config_files.Outcome):
        audit.record(request, action, target=target,
                     result=audit.OK if detail.ok else audit.FAILED, detail=detail.message,
                     node=node)
        said = success(detail) if callable(success) else success
        return Result.of(detail, f"{said} {detail.message}".strip() if said else None)
    audit.record(request, action, target=target, detail=detail if detail is not None else "",
                 node=node)
    return Result(True, success(detail) if callable(success) else success.format(detail=detail))


def on_nodes(request: HttpRequest, action: str, target: str, nodes: list[str], command: str,
             args: dict, done: str) -> Result:
    """Send a command to fleet nodes' clusters (jails.fleet.commands: a
    bounded wait, a deadline) and say, in one message, where it was
    ``done`` and where not and why; one audit row per node."""
    try:
        replies = fleet_commands.send(nodes, command, args, request.user.get_username())
    except Fail2banError as exc:  # bad input: nothing sent
        audit.record(request, action, target=target, result=audit.FAILED, detail=str(exc))
        return Result(False, str(exc))
    for reply in replies:
        audit.record(request, action, target=target, result=audit.OK if reply.ok
                     else audit.FAILED, detail=reply.message[:500], node=reply.node)
    worked = [r.node for r in replies if r.ok]
    failed = [r for r in replies if not r.ok]
    parts = [f"{done} on {', '.join(worked)}."] if worked else []
    if failed:
        parts.append("Not done on " + "; ".join(f"{r.node} ({r.message})" for r in failed)
                     + ".")
    return Result(not failed, " ".join(parts) or "No node to send it to.")


def node_targets(node: str) -> list[str] | None:
    """The nodes a form's ``node`` means: None for this host (the direct
    path), every registered node for "*", the nodes labelled L for "@L",
    else that one."""
    if not node or node == settings.BANGUI_NODE:
        return None
    if node == EVERY_NODE:
        return fleet_commands.all_nodes()
    if node.startswith(LABEL_PREFIX):
        return fleet_commands.labelled(node.removeprefix(LABEL_PREFIX))
    return [node]


def ban(request: HttpRequest, jail: str, ips: list[str], confirm: dict,
        node: str = "") -> Result:
    """Ban ``ips`` in ``jail`` (archived at once), audited. An address of
    the jail's ignore list, or the admin's own, is banned only once the form
    comes back with ``confirm``: until then the Result asks, carrying
    ``confirm`` (the fields to send again). ``node``: another fleet node,
    or "*" for every node (sent to their clusters; this host's ignore list
    says nothing about theirs, so no question is asked)."""
    shown = ", ".join(ips[:5]) + (" …" if len(ips) > 5 else "")
    targets = node_targets(node)
    if targets is not None:
        return on_nodes(request, "ban", f"{jail} {' '.join(ips)}"[:150], targets, "ban",
                        {"jail": jail, "ips": ips}, f"Banned {shown} in {jail}")
    if not request.POST.get("confirm"):
        reasons = actions.ban_warnings(jail, ips, client_ip(request))
        if reasons:
            return Result(False, "Not banned yet: " + "; ".join(reasons) + ". Ban anyway?",
                          confirm=confirm)

    def said(newly) -> str:
        if len(ips) > 1:
            return f"Banned {shown} in {jail} ({newly} newly banned)."
        return f"Banned {shown} in {jail}." if newly else f"{shown} was already banned in {jail}."

    result = perform(request, "ban", f"{jail} {' '.join(ips)[:200]}",
                     lambda: actions.ban(jail, ips, request.user.get_username()), said)
    return result if result.ok else Result(False, f"Could not ban {shown} in {jail}: "
                                                  f"{result.message}")


def unban(request: HttpRequest, ip: str, jail: str = "", node: str = "") -> Result:
    """Unban from one jail (or every jail), noted in the archive, audited;
    on another fleet node (or "*": every node) through its cluster."""
    where = f"from {jail}" if jail else "from every jail"
    targets = node_targets(node)
    if targets is not None:
        args = {"ips": [ip], **({"jail": jail} if jail else {})}
        return on_nodes(request, "unban", f"{jail} {ip}".strip(), targets, "unban", args,
                        f"Unbanned {ip} {where}")

    def said(n) -> str:
        return f"Unbanned {ip} {where}." if n else f"{ip} was not banned {where}; nothing to do."

    result = perform(request, "unban", f"{jail} {ip}" if jail else ip,
                     lambda: actions.unban([ip], request.user.get_username(), jail or None),
                     said)
    return result if result.ok else Result(False, f"Could not unban {ip}: {result.message}")


def respond(request: HttpRequest, result: Result, fragment: Callable[[Result], HttpResponse],
            back: str) -> HttpResponse:
    """HTMX, or a question: ``fragment(result)``; a plain form: the message
    as a flash and a redirect to ``back``."""
    if wants_fragment(request) or result.confirm is not None:
        return fragment(result)
    messages.add_message(request, messages.SUCCESS if result.ok else messages.ERROR,
                         result.message)
    return redirect(back)
