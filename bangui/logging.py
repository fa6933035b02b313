"""Log context and formats: request and task ids on every line, JSON lines
when ``BANGUI_LOG_JSON`` is on.

The ids live in context variables set by ``RequestLogMiddleware`` (one per
request) and by django-q2's ``pre_execute`` signal (one per task, in the
worker); :class:`ContextFilter` copies them onto every record.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str] = ContextVar("bangui_request_id", default="-")
task_var: ContextVar[str] = ContextVar("bangui_task", default="-")

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id", "task"}


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``task`` ("-" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "task"):
            record.task = task_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids and
    any plain ``extra=`` fields (objects such as the request are left out).
    No dependency."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "task"):
            value = getattr(record, key, "-")
            if value != "-":
                out[key] = value
        for key, value in vars(record).items():
            # Plain values only: Django's own records carry the request
            # object, whose text includes the query string.
            if (key not in _STANDARD and not key.startswith("_")
                    and isinstance(value, str | int | float | bool | None)):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def task_started(sender, func=None, task=None, **kwargs) -> None:
    """django-q2 ``pre_execute`` (in the worker): tag log lines with the task."""
    task = task or {}
    task_var.set(f"{task.get('id', '?')}:{task.get('name', '?')}")


def task_finished(sender, func=None, task=None, **kwargs) -> None:
    task_var.set("-")
