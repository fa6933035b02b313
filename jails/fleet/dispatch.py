"""One dispatch for every fail2ban action, whatever node it is for
(docs/fleet.md, "One road").

:func:`submit` takes a command (jails/fleet/commands.py) for one or more
nodes and returns at once with a :class:`Ticket`:

- the node that is this process's own (``BANGUI_NODE``): run in this process
  now (``commands.run``), its answer in the ticket;
- a node that is down or not registered: refused at once, saying why;
- any other node: queued to its command lane (``nodename.command_queue``, a
  one-worker cluster that never runs schedules or imports) as one django-q2
  task of the ticket's group, with a deadline; its answer is read later from
  django-q2's results (:func:`collect`, ``fetch_group``): by the web's
  pending fragment once a second, or by :func:`send` for callers that may
  wait (the CLI, benches, a node's config file or regex test).

Commands that change something are audited here, one row per node sharing
the ticket's group as ``ref``: final at once for answered nodes, "pending"
for queued ones until the node settles them with its answer
(``commands.settle``), :func:`collect` reads that answer, or, when the node
never took the command, ``accounts.audit.settle_unanswered`` gives up on
it a minute after its deadline. The web's poll rebuilds the ticket from those
rows (:func:`find`).

Deadlines are wall-clock: the hosts' clocks must agree (NTP), as the leases'.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from django.conf import settings
from django_q.tasks import async_task, fetch_group

from accounts import audit
from accounts.models import AuditEntry
from jails.config import regex
from jails.fail2ban import InvalidInput
from jails.fleet import commands
from nodes import nodename
from nodes.fleet import fleet

TASK = "jails.fleet.commands.execute"
POLL_SECONDS = 0.05
# A queued command with no answer this long after its deadline is settled as
# unanswered: the node drops it when it takes it later, so it never runs.
GRACE_SECONDS = 5


# What a form's or the API's ``node`` names besides one node.
EVERY_NODE = "*"
LABEL_PREFIX = "@"  # "@web": every node labelled web


@dataclass(frozen=True)
class Reply:
    node: str
    ok: bool
    message: str
    pending: bool = False  # queued, no answer yet
    data: dict | None = None  # a command's structured answer (regex, config), beside its words
    refusal: str = ""  # the node refused it: its reason alone (the message words it whole)


@dataclass(frozen=True)
class Ticket:
    group: str  # django-q2's task group of the queued part, and the audit rows' ref
    replies: tuple[Reply, ...]  # one per target node, in the order asked
    deadline: float  # epoch seconds: no node runs it later

    @property
    def pending(self) -> list[str]:
        return [r.node for r in self.replies if r.pending]


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def _reply(node: str, answer: dict) -> Reply:
    data = answer.get("data")
    return Reply(node, bool(answer.get("ok")), str(answer.get("message")),
                 data=data if isinstance(data, dict) else None,
                 refusal=str(answer.get("refused") or ""))


def submit(nodes: list[str], command: str, args: dict, actor: str, *, by: object = None,
           deadline_seconds: float | None = None) -> Ticket:
    """Send ``command`` to every node in ``nodes`` (this process's own node:
    run here, now) and return without waiting for the others. ``actor``:
    the name the command runs as; ``by``: who the audit trail names (a
    request, a user, "cli:root"; default ``actor``). Raises InvalidInput
    for bad arguments: nothing is sent, the refusal is audited."""
    changes = command in commands.CHANGES
    by = actor if by is None else by
    try:
        args = commands.clean(command, args)
    except InvalidInput as exc:
        if changes:
            audit.record(by, commands.audit_action(command, args),
                         target=commands.audit_target(command, args), result=audit.FAILED,
                         detail=str(exc))
        raise
    group = uuid.uuid4().hex
    deadline = time.time() + (settings.BANGUI_COMMAND_DEADLINE_SECONDS
                              if deadline_seconds is None else deadline_seconds)
    here = settings.BANGUI_NODE
    states = {s.name: s for s in fleet()} if set(nodes) - {here} else {}
    replies = []
    for node in dict.fromkeys(nodes):
        state = states.get(node)
        if node == here:
            reply = _reply(node, commands.run(command, args, actor))
        elif state is None:
            reply = Reply(node, False, f"no node named {node!r} has registered")
        elif not state.is_up():
            since = (f" since {state.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
                     if state.heartbeat_at else "")
            reply = Reply(node, False, f"node {node} is down (no heartbeat{since}): not sent")
        else:
            async_task(TASK, command, args, actor, node, deadline, ref=group, group=group,
                       cluster=nodename.command_queue(node), task_name=f"{command} on {node}")
            reply = Reply(node, False, f"sent to {node}; waiting for its answer (it will not "
                                       f"run after {_when(deadline)})", pending=True)
        replies.append(reply)
        if changes:
            audit.record(by, commands.audit_action(command, args),
                         target=commands.audit_target(command, args),
                         result=(audit.PENDING if reply.pending else
                                 audit.OK if reply.ok else audit.FAILED),
                         detail=reply.message[:2000], node=node, ref=group)
    return Ticket(group, tuple(replies), deadline)


def collect(ticket: Ticket) -> Ticket:
    """The ticket with every answer the nodes have given by now (and, past
    its deadline, the silent ones settled as not run); their audit rows
    settled with them."""
    waiting = set(ticket.pending)
    if not waiting:
        return ticket
    answers: dict[str, Reply] = {}
    for task in fetch_group(ticket.group, failures=True) or []:
        node = task.args[3] if task.args and len(task.args) > 3 else None
        if node not in waiting:
            continue
        answers[node] = (_reply(node, task.result) if isinstance(task.result, dict) else
                         Reply(node, False, f"failed on node {node}: see its worker's log"))
    if time.time() > ticket.deadline + GRACE_SECONDS:
        for node in waiting - set(answers):
            answers[node] = Reply(node, False, f"no answer from node {node}: it did not take "
                                               f"the command by {_when(ticket.deadline)}, so "
                                               "it will not run it")
    for node, reply in answers.items():
        AuditEntry.objects.filter(ref=ticket.group, node=node, result=audit.PENDING).update(
            result=audit.OK if reply.ok else audit.FAILED, detail=reply.message[:2000])
    return replace(ticket, replies=tuple(answers.get(r.node, r) for r in ticket.replies))


def find(group: str, user) -> Ticket | None:
    """A ticket ``user`` sent, rebuilt from its audit rows (the web's poll);
    None when there is none."""
    rows = list(AuditEntry.objects.filter(ref=group, actor=user).order_by("id")
                .values_list("node", "result", "detail", "created_at"))
    if not rows or not group:
        return None
    replies = tuple(Reply(node, result == audit.OK, detail, pending=result == audit.PENDING)
                    for node, result, detail, _ in rows)
    deadline = rows[0][3].timestamp() + settings.BANGUI_COMMAND_DEADLINE_SECONDS
    return Ticket(group, replies, deadline)


def send(nodes: list[str], command: str, args: dict, actor: str, *, by: object = None,
         wait: float | None = None, deadline_seconds: float | None = None) -> list[Reply]:
    """:func:`submit`, then wait (at most ``wait`` seconds,
    ``BANGUI_COMMAND_WAIT_SECONDS`` by default) for the answers: for callers
    that are no web request, or that need the answer's data to go on. One
    Reply per node, in order; those still pending say so."""
    ticket = submit(nodes, command, args, actor, by=by, deadline_seconds=deadline_seconds)
    wait = settings.BANGUI_COMMAND_WAIT_SECONDS if wait is None else wait
    give_up = time.monotonic() + wait
    while ticket.pending:
        ticket = collect(ticket)
        if not ticket.pending or time.monotonic() >= give_up:
            break
        time.sleep(POLL_SECONDS)
    return [r if not r.pending else replace(
        r, message=f"no answer from node {r.node} within {wait:g} s; it will not run after "
                   f"{_when(ticket.deadline)}") for r in ticket.replies]


class Pending(Exception):
    """The node has not answered yet: the web polls with ``ticket``."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"waiting for {', '.join(ticket.pending)} to answer")
        self.ticket = ticket


def ask(node: str, command: str, args: dict, actor: str, *, by: object = None,
        ticket: Ticket | None = None) -> Reply:
    """One node's answer to a command whose answer a page shows (a config
    file, a save's outcome, a regex test): sent now when ``ticket`` is None,
    else the earlier ticket's answer read now. Raises Pending while the
    node has not answered (this host's node answers at once), InvalidInput
    for arguments it will not send. The web never waits on a node."""
    ticket = submit([node], command, args, actor, by=by) if ticket is None else collect(ticket)
    reply = ticket.replies[0]
    if reply.pending:
        raise Pending(ticket)
    return reply


def all_nodes() -> list[str]:
    """Every registered node's name (``--all-nodes``, ban everywhere)."""
    return [s.name for s in fleet()]


def labelled(label: str) -> list[str]:
    """The registered nodes carrying ``label`` (``--label``, "every node
    labelled …"); labels are set in Django admin → Nodes."""
    return [s.name for s in fleet() if label in s.labels]


def labels() -> list[str]:
    """Every label some registered node carries."""
    return sorted({label for s in fleet() for label in s.labels})


def regex_on(node: str, test: dict, actor: str, ticket: Ticket | None = None):
    """The regex tester's run on ``node`` (its filter.d, its log files; in
    this process when it is this node) as a ``jails.config.regex.Result``;
    TesterError with the node's reason when it was not run; Pending (see
    :func:`ask`) while another node has not answered."""
    try:
        reply = ask(node, "regex", test, actor, ticket=ticket)
    except InvalidInput as exc:
        raise regex.TesterError(str(exc)) from None
    if not reply.ok or reply.data is None:
        raise regex.TesterError(reply.message if node == settings.BANGUI_NODE
                                else f"on {node}: {reply.message}")
    data = reply.data
    if data.get("busy"):
        raise regex.Busy(reply.message)
    where = "" if node == settings.BANGUI_NODE else f" on {node}"
    return regex.Result(
        matched=[regex.Match(m["line"], list(m["hosts"])) for m in data["matched"]],
        ignored=list(data["ignored"]), missed=list(data["missed"]), total=int(data["total"]),
        truncated=bool(data["truncated"]), source=f"{data['source']}{where}",
        clipped=bool(data.get("clipped")))


def targets(node: str) -> list[str]:
    """The nodes ``node`` means: this host's for "", every registered node
    for "*", the nodes labelled L for "@L", else that one."""
    if not node:
        return [settings.BANGUI_NODE]
    if node == EVERY_NODE:
        return all_nodes()
    if node.startswith(LABEL_PREFIX):
        return labelled(node.removeprefix(LABEL_PREFIX))
    return [node]
