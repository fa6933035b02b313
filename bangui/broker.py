"""django-q2's ORM broker, waiting out a busy or restarting database.

A pull that meets a transient error (PostgreSQL restarting, SQLite's lock
held past its busy timeout: bangui.dbretry.is_transient) pulls nothing
this time and says so in one warning line; django-q2's own broker raised,
its pusher process died with a traceback and was restarted 10 s later.
Tasks are never lost either way: an unacknowledged task stays in the
queue table. Set as ``Q_CLUSTER["broker_class"]``.
"""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError, connections
from django_q.brokers.orm import ORM as DjangoQORM

from bangui.dbretry import is_transient

logger = logging.getLogger("bangui.db")

PAUSE_SECONDS = 1.0


class ORM(DjangoQORM):
    def dequeue(self):
        try:
            return super().dequeue()
        except DatabaseError as exc:
            if not is_transient(exc):
                raise
            logger.warning("task queue %s: the database is busy or unreachable (%s); "
                           "pulling again in %.0f s", self.list_key,
                           str(exc).strip().splitlines()[0], PAUSE_SECONDS)
            connections.close_all()
            time.sleep(PAUSE_SECONDS)
            return None
