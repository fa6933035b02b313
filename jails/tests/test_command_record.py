"""The record of a command sent to a node (jails/fleet/dispatch.py,
commands.py): the sweep of commands no node took, and what a node checks
again itself before running a regex test on a log file."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEntry
from jails.fail2ban import InvalidInput
from jails.fleet import commands, dispatch

pytestmark = pytest.mark.django_db


def test_the_sweep_settles_only_commands_past_their_deadline(settings):
    settings.BANGUI_COMMAND_DEADLINE_SECONDS = 30
    old = timezone.now() - timedelta(seconds=30 + dispatch.SWEEP_AFTER_SECONDS + 5)
    stale = AuditEntry.objects.create(actor_name="root", action="ban", node="b", ref="g1",
                                      result=audit.PENDING, detail="sent to b")
    AuditEntry.objects.filter(pk=stale.pk).update(created_at=old)
    fresh = AuditEntry.objects.create(actor_name="root", action="ban", node="c", ref="g2",
                                      result=audit.PENDING, detail="sent to c")
    answered = AuditEntry.objects.create(actor_name="root", action="ban", node="b", ref="g0",
                                         result=audit.OK, detail="Banned 192.0.2.1 in sshd.")
    AuditEntry.objects.filter(pk=answered.pk).update(created_at=old)

    assert dispatch.sweep() == 1
    stale.refresh_from_db()
    assert stale.result == audit.FAILED
    assert stale.detail == ("no answer from node b: it did not take the command before its "
                            "deadline, so it will not run it")
    fresh.refresh_from_db()
    answered.refresh_from_db()
    assert (fresh.result, answered.result) == (audit.PENDING, audit.OK)
    assert dispatch.sweep() == 0


def test_a_late_answer_from_the_node_overwrites_the_sweep():
    row = AuditEntry.objects.create(actor_name="root", action="jail.reload", node="b",
                                    ref="g3", result=audit.FAILED, detail="no answer from b")
    assert commands.settle("g3", "b", {"ok": True, "message": "Reloaded sshd."}) == 1
    row.refresh_from_db()
    assert (row.result, row.detail) == (audit.OK, "Reloaded sshd.")


@pytest.mark.parametrize(("actor", "allowed"), [
    ("viewer", False), ("nobody-by-that-name", False), ("admin", True), ("cli:root", True)])
def test_a_node_runs_a_log_file_test_only_for_who_may_read_logs(actor, allowed, f2b):
    users = get_user_model().objects
    users.create_user("viewer", password="x")
    users.create_superuser("admin", password="x")
    test = {"lines": "", "log_path": "/var/log/nonexistent-bangui.log", "filter_name": "sshd",
            "failregex": "", "ignoreregex": "", "datepattern": ""}
    if allowed:
        with pytest.raises(InvalidInput) as refused:
            commands.answer("regex", test, actor)  # gets past the check, to the file
        assert "needs permission" not in str(refused.value)
    else:
        with pytest.raises(InvalidInput, match="needs permission to edit the configuration"):
            commands.answer("regex", test, actor)
