"""One deadline's worth of waiting on fail2ban per request."""

from __future__ import annotations

from jails.live import link


class Fail2banBudgetMiddleware:
    """Every fail2ban client made while a request is served shares one
    :class:`jails.fail2ban.client.Budget`: once a call timed out or found
    fail2ban unreachable, the rest of the page (the status bar, the live
    columns) says "not answering" at once instead of waiting the timeout (or
    retrying the connect) again. The budget lives in a context variable
    reset when the request ends: the next request asks afresh."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with link.request_budget():
            return self.get_response(request)
