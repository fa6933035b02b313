"""The record of a command sent to a node (jails/fleet/dispatch.py,
commands.py, accounts.audit.settle_unanswered): commands no node took are
settled after their deadline; a node's late answer wins; a node under its
own database role, refused the audit trail, still answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEntry
from jails.fleet import commands

pytestmark = pytest.mark.django_db


def test_only_commands_past_their_deadline_are_settled_unanswered(settings):
    settings.BANGUI_COMMAND_DEADLINE_SECONDS = 30
    old = timezone.now() - timedelta(seconds=30 + audit.UNANSWERED_AFTER_SECONDS + 5)
    stale = AuditEntry.objects.create(actor_name="root", action="ban", node="b", ref="g1",
                                      result=audit.PENDING, detail="sent to b")
    AuditEntry.objects.filter(pk=stale.pk).update(created_at=old)
    fresh = AuditEntry.objects.create(actor_name="root", action="ban", node="c", ref="g2",
                                      result=audit.PENDING, detail="sent to c")
    answered = AuditEntry.objects.create(actor_name="root", action="ban", node="b", ref="g0",
                                         result=audit.OK, detail="Banned 192.0.2.1 in sshd.")
    AuditEntry.objects.filter(pk=answered.pk).update(created_at=old)

    assert audit.settle_unanswered() == 1
    stale.refresh_from_db()
    assert stale.result == audit.FAILED
    assert stale.detail == ("no answer from node b: it did not take the command before its "
                            "deadline, so it will not run it")
    fresh.refresh_from_db()
    answered.refresh_from_db()
    assert (fresh.result, answered.result) == (audit.PENDING, audit.OK)
    assert audit.settle_unanswered() == 0


def test_a_late_answer_from_the_node_overwrites_the_no_answer():
    row = AuditEntry.objects.create(actor_name="root", action="jail.reload", node="b",
                                    ref="g3", result=audit.FAILED, detail="no answer from b")
    assert commands.settle("g3", "b", {"ok": True, "message": "Reloaded sshd."}) == 1
    row.refresh_from_db()
    assert (row.result, row.detail) == (audit.OK, "Reloaded sshd.")



def test_a_node_refused_the_audit_trail_still_answers(monkeypatch):
    """Under a node's own PostgreSQL role the audit trail is refused
    (nodes/role.py): settling is then left to the web, the command's
    answer is not lost for it."""
    from django.db import ProgrammingError

    def refused(*args, **kwargs):
        raise ProgrammingError("permission denied for table accounts_auditentry")

    monkeypatch.setattr(commands, "retrying", refused)
    assert commands.settle("g4", "b", {"ok": True, "message": "Banned."}) == 0
