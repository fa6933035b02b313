"""Keeping fail2ban's ignore lists matching the allow-list, on every node.

Two roads, one command: a change applies at once through the one dispatch
(:func:`apply_now`, the ``ignore`` command to the target nodes, queued to
the others' command lanes), and every node's worker re-applies the whole
list on each tick (:func:`sync`, the ``node_tick`` hook) — after a
``fail2ban-client restart`` or ``reload`` (which reset the ignore lists to
the config), when a node was down at the change, and at an entry's expiry.
Both add and remove through ``jails.fleet.commands`` (``ignore``), and
remove only what an :class:`~allowlist.models.Applied` row says BanGUI
added: an ``ignoreip`` from fail2ban's config stays. docs/allowlist.md.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings

from accounts import audit
from allowlist.models import AllowEntry, Applied, listed, node_labels
from jails.fail2ban import Fail2banError
from jails.fleet import commands, dispatch
from jails.live import actions, link

logger = logging.getLogger(__name__)

ACTOR = "allow-list sync"


def node_tick() -> None:
    """The worker's hook (nodes/worker.py run_tick), on its own node."""
    sync()


def _ignore(jail: str, value: str, remove: bool) -> dict:
    return commands.run("ignore", {"jail": jail, "value": value, "remove": remove}, ACTOR)


def sync(node: str | None = None, client=None) -> list[str]:
    """Make this node's running jails' ignore lists match the active
    entries that apply to them: add what is missing (and note it as
    BanGUI's), remove what BanGUI added that no active entry wants any more
    (removed, expired). What it did, one line each (each also audited)."""
    node = node or settings.BANGUI_NODE
    client = client or link.client(connect_retries=0)
    labels = node_labels(node)
    entries = [e for e in AllowEntry.objects.active() if e.applies_to(node, labels)]
    ours: dict[str, set[str]] = defaultdict(set)
    for jail, value in Applied.objects.filter(node=node).values_list("jail", "value"):
        ours[jail].add(value)
    did = []
    for jail in client.jail_names():
        want = {e.value for e in entries if e.applies_to(node, labels, jail)}
        try:
            have = {listed(v) for v in client.ignore_list(jail)}
        except Fail2banError:
            continue  # stopped meanwhile
        for value in sorted(want - have):
            answer = _ignore(jail, value, remove=False)
            if answer["ok"]:
                Applied.objects.get_or_create(node=node, jail=jail, value=value)
            did.append(_said(node, "allowlist.apply", jail, value, answer))
        for value in sorted(ours[jail] - want):
            if value in have:
                did.append(_said(node, "allowlist.withdraw", jail, value,
                                 _ignore(jail, value, remove=True)))
            Applied.objects.filter(node=node, jail=jail, value=value).delete()
    return did


def _said(node: str, action: str, jail: str, value: str, answer: dict) -> str:
    audit.record(ACTOR, action, target=f"{value} in {jail}",
                 result=audit.OK if answer["ok"] else audit.FAILED,
                 detail=answer["message"][:2000], node=node)
    return f"{node}: {answer['message']}"


# -- at once, on a change (the web page and the CLI) ----------------------------
def target_nodes(entry: AllowEntry) -> list[str]:
    """The nodes an entry names: its node, its label's, or every registered
    one (this host's alone when none has registered)."""
    if entry.node:
        return [entry.node]
    if entry.label:
        return dispatch.labelled(entry.label)
    return dispatch.all_nodes() or [settings.BANGUI_NODE]


Sent = list[tuple[str, dispatch.Ticket]]  # (jail, its ticket) for each ignore sent


def apply_now(entry: AllowEntry, actor: str, by: object) -> Sent:
    """Put a new entry in the ignore lists of its jails on its nodes now,
    through the dispatch (one ``ignore`` per jail, to the nodes running
    it). A value already listed there (the admin's own) is left alone;
    a node that is down gets it from its worker's sync when it is back."""
    by_jail: dict[str, list[str]] = defaultdict(list)
    for node in target_nodes(entry):
        labels = node_labels(node)
        for jail, values in actions.ignore_lists(node).items():
            if entry.applies_to(node, labels, jail) and entry.value not in {
                    listed(v) for v in values}:
                Applied.objects.get_or_create(node=node, jail=jail, value=entry.value)
                by_jail[jail].append(node)
    return [(jail, dispatch.submit(nodes, "ignore", {"jail": jail, "value": entry.value}, actor,
                                   by=by))
            for jail, nodes in sorted(by_jail.items())]


def withdraw_now(value: str, actor: str, by: object) -> Sent:
    """Take ``value`` out of the ignore lists BanGUI put it in where no
    active entry wants it any more (after an entry's removal), through the
    dispatch; each node's sync then forgets its rows (and removes it
    itself where the command did not reach)."""
    wanted = list(AllowEntry.objects.active().filter(value=value))
    by_jail: dict[str, list[str]] = defaultdict(list)
    for node, jail in Applied.objects.filter(value=value).values_list("node", "jail"):
        labels = node_labels(node)
        if not any(e.applies_to(node, labels, jail) for e in wanted):
            by_jail[jail].append(node)
    return [(jail, dispatch.submit(nodes, "ignore",
                                   {"jail": jail, "value": value, "remove": True}, actor, by=by))
            for jail, nodes in sorted(by_jail.items())]


def said(sent: Sent, verb: str = "added") -> str:
    """What the immediate apply did, in a sentence: where it is done, who
    is still to answer, where it failed (the workers' sync retries)."""
    alone = {r.node for _, t in sent for r in t.replies} <= {settings.BANGUI_NODE}
    done, waiting, failed = [], set(), []
    for jail, ticket in sent:
        for r in ticket.replies:
            where = jail if alone else f"{jail} on {r.node}"
            if r.ok:
                done.append(where)
            elif r.pending:
                waiting.add(r.node)
            else:
                failed.append(f"{where} ({r.message})")
    parts = [f"{verb.capitalize()} now: {', '.join(done)}."] if done else []
    if waiting:
        parts.append(f"Waiting for {', '.join(sorted(waiting))} to answer.")
    if failed:
        parts.append(f"Not yet {verb}: {'; '.join(failed)}; each node's worker retries.")
    return " ".join(parts) or "No running jail to apply it to now."


def add(value: str, *, actor: str, by: object, note: str = "", expires_at=None, jail: str = "",
        node: str = "", label: str = "") -> tuple[AllowEntry, Sent]:
    """Validate, store, audit and apply one entry (InvalidInput or Django's
    ValidationError says what is wrong; nothing is stored then)."""
    entry = AllowEntry(value=value, note=note, added_by=actor[:150], expires_at=expires_at,
                       jail=jail, node=node, label=label)
    entry.full_clean()
    entry.save()
    audit.record(by, "allowlist.add", target=entry.value,
                 detail=f"{entry.scope}" + (f"; until {entry.expires_at:%Y-%m-%d %H:%M} UTC"
                                             if entry.expires_at else "")
                 + (f"; {entry.note}" if entry.note else ""))
    return entry, apply_now(entry, actor, by)


def remove(entry: AllowEntry, *, actor: str, by: object) -> Sent:
    """Delete an entry, audit it, and take its value out where nothing else wants it."""
    value, scope = entry.value, entry.scope
    entry.delete()
    audit.record(by, "allowlist.remove", target=value, detail=scope)
    return withdraw_now(value, actor, by)


__all__ = ["add", "apply_now", "node_tick", "remove", "sync", "withdraw_now"]
