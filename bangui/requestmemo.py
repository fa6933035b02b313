"""Answers computed once per web request, shared by every part of the page
that shows them (the view and the status bar both show fail2ban's overview
and the fleet's nodes). RequestMemoMiddleware opens the memo; outside a
request (tasks, commands) every call computes afresh."""

from __future__ import annotations

import contextvars

_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "bangui_request_memo", default=None)


def once_per_request(key: str, compute):
    """``compute()`` once per request; outside a request, every time."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


class RequestMemoMiddleware:
    """One empty memo per request, dropped when the answer is made."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _memo.set({})
        try:
            return self.get_response(request)
        finally:
            _memo.reset(token)
