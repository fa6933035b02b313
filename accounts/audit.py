"""The audit trail: one call per state-changing action.

    audit.record(request, "ban", target="sshd 203.0.113.9")
    audit.record("cli:root", "unban", target="203.0.113.9", result="failed",
                 detail=str(exc))

``actor`` is a user, a request (its user, or "anonymous"), or a plain name
for non-human actors ("system", "cli:root"). Action names are short verbs or
``noun.verb`` (login, logout, lockout, setup, settings.change, ban, unban,
jail.start, config.save, blocklist.import …); new features add their own.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import AuditEntry
from bangui.clientip import client_ip

OK = AuditEntry.Result.OK
FAILED = AuditEntry.Result.FAILED
PENDING = AuditEntry.Result.PENDING


def _actor(actor: object) -> tuple[AbstractBaseUser | None, str]:
    if isinstance(actor, HttpRequest):
        actor = getattr(actor, "user", None)
    if isinstance(actor, AbstractBaseUser):
        if actor.is_authenticated and actor.pk is not None:
            return actor, actor.get_username()
        return None, "anonymous"
    if actor is None or getattr(actor, "is_anonymous", False):
        return None, "anonymous"
    return None, str(actor)[:150]


def _text(value: object) -> str:
    """Readable text: a list (an ignore list, IPs) as "a, b", never as a
    Python repr. PostgreSQL text columns cannot hold NUL; a refused path
    may carry one."""
    if isinstance(value, list | tuple | set | frozenset):
        value = ", ".join(str(v) for v in value) or "(none)"
    return str(value).replace("\x00", "\\x00")


def record(
    actor: object,
    action: str,
    target: str = "",
    result: str = OK,
    detail: str = "",
    request: HttpRequest | None = None,
    node: str = "",
    ref: str = "",
) -> AuditEntry:
    if request is None and isinstance(actor, HttpRequest):
        request = actor
    user, name = _actor(actor)
    if result not in AuditEntry.Result.values:
        raise ValueError(f"audit result must be one of {AuditEntry.Result.values}, not {result!r}")
    return AuditEntry.objects.create(
        actor=user,
        actor_name=_text(name),
        source_ip=client_ip(request) if request is not None else None,
        action=action[:64],
        target=_text(target)[:255],
        result=result,
        detail=_text(detail),
        node=node[:63],
        ref=ref[:32],
    )


# A command no node answered is settled this long after its deadline: one
# taken just before it may still be running (a config save's reload).
UNANSWERED_AFTER_SECONDS = 60


def settle_unanswered() -> int:
    """Settle the rows of commands sent to fleet nodes (jails/fleet/dispatch.py)
    still pending a minute past their deadline: their node never took them
    (it drops a command past its deadline) and nobody may be left to read
    an answer. Returns how many. Cheap: a partial index holds only the
    pending rows. Called by every node's tick, the command poll and the
    audit page, so no row stays pending whoever is left to look."""
    cutoff = timezone.now() - timedelta(
        seconds=settings.BANGUI_COMMAND_DEADLINE_SECONDS + UNANSWERED_AFTER_SECONDS)
    stale = AuditEntry.objects.filter(result=PENDING, created_at__lt=cutoff)
    settled = 0
    for node in set(stale.values_list("node", flat=True)):
        settled += stale.filter(node=node).update(
            result=FAILED,
            detail=f"no answer from node {node}: it did not take the command before its "
                   "deadline, so it will not run it")
    return settled
