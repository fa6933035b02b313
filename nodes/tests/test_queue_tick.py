"""The node's tick is queued unless one is still waiting: a task that a
killed cluster had pulled (locked for Q_CLUSTER["retry"], 10 minutes)
must not stop the restarted node's ticks, and with them its archive sync
(a CI run saw a restarted node sync nothing within 30 s)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from nodes import nodename
from nodes.worker import queue_tick

pytestmark = pytest.mark.django_db


def _queue() -> str:
    return nodename.command_queue("n1")


def test_a_tick_is_queued_when_none_waits():
    assert queue_tick("n1") is True
    assert OrmQ.objects.filter(key=_queue()).count() == 1


def test_no_second_tick_while_one_waits():
    assert queue_tick("n1") is True
    assert queue_tick("n1") is False
    assert OrmQ.objects.filter(key=_queue()).count() == 1


def test_a_task_a_dead_cluster_pulled_does_not_stop_the_ticks():
    queue_tick("n1")
    # What the broker's dequeue does when a cluster pulls it: locked until
    # now + retry. The cluster is then killed before it acknowledges.
    OrmQ.objects.filter(key=_queue()).update(lock=timezone.now() + timedelta(seconds=600))
    assert queue_tick("n1") is True
    assert OrmQ.objects.filter(key=_queue()).count() == 2
    assert queue_tick("n1") is False  # the new one waits: no third


def test_another_nodes_waiting_tick_does_not_count():
    queue_tick("n2")
    assert queue_tick("n1") is True
