"""The client's address, the same one for axes, the auth log and the audit.

Without a proxy it is REMOTE_ADDR. Behind N trusted reverse proxies
(``BANGUI_PROXY_COUNT``), it is the address the outermost trusted proxy saw:
the N-th entry from the right of X-Forwarded-For (entries further left are
client-supplied and can be forged).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    proxies = getattr(settings, "BANGUI_PROXY_COUNT", 0)
    if proxies:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "")
        forwarded = [p for p in header.split(",") if p.strip()]
        if len(forwarded) >= proxies:
            ip = _valid(forwarded[-proxies])
            if ip:
                return ip
    return _valid(request.META.get("REMOTE_ADDR", ""))
