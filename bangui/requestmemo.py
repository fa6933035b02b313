"""Answers computed once per web request, shared by every part of the page
that shows them (the view and the status bar both show fail2ban's overview
and the fleet's nodes), and work put off until the answer is sent.
RequestMemoMiddleware opens the memo; outside a request (tasks, commands)
every call computes afresh."""

from __future__ import annotations

import contextvars
import logging
import threading

from django.core.signals import request_finished

log = logging.getLogger(__name__)

_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "bangui_request_memo", default=None)
_AFTER = "after_response"
# Work handed over from the memo when the view has answered, run when the
# server has sent the answer (same thread: the WSGI server closes the
# response, Django sends request_finished).
_sent = threading.local()


def once_per_request(key: str, compute):
    """``compute()`` once per request; outside a request, every time."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def in_request() -> bool:
    """Whether a request's memo is open (else each call computes afresh)."""
    return _memo.get() is not None


def after_response(key: str, work) -> bool:
    """Run ``work()`` after this request's answer has gone out (once per
    ``key`` and request), so nobody waits for it; False outside a request
    (nothing is scheduled). A failure is logged, never raised."""
    memo = _memo.get()
    if memo is None:
        return False
    memo.setdefault(_AFTER, {}).setdefault(key, work)
    return True


def _run_after_response(**_kwargs) -> None:
    pending, _sent.pending = getattr(_sent, "pending", None), None
    for key, work in (pending or {}).items():
        try:
            work()
        except Exception:  # the answer is sent: nobody to tell but the log
            log.exception("work after the response failed: %s", key)


request_finished.connect(_run_after_response, dispatch_uid="bangui.requestmemo.after")


class RequestMemoMiddleware:
    """One empty memo per request, dropped when the answer is made."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _memo.set({})
        try:
            return self.get_response(request)
        finally:
            _sent.pending = _memo.get().get(_AFTER)
            _memo.reset(token)
