"""Where a login may send the user next: local paths only."""

from __future__ import annotations

from urllib.parse import unquote

from django.utils.http import url_has_allowed_host_and_scheme

_MAX_DECODE = 3


def safe_next(candidate: str | None) -> str | None:
    """``candidate`` if it is a plain local path, else None.

    Django's check refuses other hosts and schemes (``//evil.com``,
    ``https:evil``, ``/\\evil``); on top of that we require a leading single
    slash, and refuse backslashes and control characters in the value and in
    its percent-decoded forms (``/%2F%2Fevil.com``, ``/%5Cevil``), which some
    proxies and browsers normalise into a host.
    """
    if not candidate:
        return None
    value = candidate
    for _ in range(_MAX_DECODE + 1):
        if not _is_local_path(value):
            return None
        decoded = unquote(value)
        if decoded == value:
            return candidate
        value = decoded
    return None  # still encoded after several rounds: not a normal link


def _is_local_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith("//"):
        return False
    if "\\" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return False
    return url_has_allowed_host_and_scheme(value, allowed_hosts=set(), require_https=False)
