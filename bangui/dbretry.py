"""Waiting out a busy or briefly absent database, for background writers.

A web request that meets ``database is locked`` fails and the user retries;
a background writer has nobody to retry for it. The worker's start (lease,
facts, schedules), which used to die of one such error with every queued
import behind it, goes through :func:`retrying`: transient errors (SQLite's
lock held past its busy timeout, PostgreSQL restarting or refusing
connections) are retried with backoff until a deadline, each retry logged,
and the last error raised after it. Only for work that is safe to run again
(every use says why).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connections

logger = logging.getLogger("bangui.db")

T = TypeVar("T")

# Lower-cased fragments of the errors that pass by themselves: a lock held
# by another writer, a server restarting or not accepting connections yet.
_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "could not connect",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",  # after a crash or an immediate stop
    "the database system is not yet accepting connections",
    "connection already closed",
    "connection is closed",
    "consuming input failed",
    "ssl connection has been closed",
)


def is_transient(exc: BaseException) -> bool:
    """A database error that a later try may not meet."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    text = str(exc).lower()
    return any(fragment in text for fragment in _TRANSIENT)


def retrying(work: Callable[[], T], *, what: str, seconds: float = 120,
             first_delay: float = 0.5, max_delay: float = 5.0) -> T:
    """``work()``, run again after a transient database error (with a
    doubling delay up to ``max_delay``) until ``seconds`` have passed; any
    other error, or the last transient one, is raised. The connections are
    closed before each retry (a PostgreSQL connection broken by a restart is
    not reusable)."""
    deadline = time.monotonic() + seconds
    delay = first_delay
    while True:
        try:
            return work()
        except DatabaseError as exc:
            left = deadline - time.monotonic()
            if not is_transient(exc) or left <= 0:
                raise
            wait = min(delay, max_delay, left)
            logger.warning("%s: the database is busy or unreachable (%s); retrying in %.1f s",
                           what, str(exc).strip().splitlines()[0], wait)
            connections.close_all()
            time.sleep(wait)
            delay *= 2
