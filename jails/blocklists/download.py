"""Download a blocklist: SSRF guard, timeout, size cap, retry with backoff.

The guard resolves the host and refuses private, loopback, link-local,
multicast, reserved and unspecified targets (IPv4 and IPv6, including
IPv4-mapped and 6to4/Teredo-embedded forms) unless private targets are
explicitly allowed. Redirects are followed by hand so every hop is checked.
Residual risk, documented in docs/blocklists.md: the name is resolved again
by the HTTP library (DNS rebinding between check and connect).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

MAX_REDIRECTS = 5
RETRY_STATUSES = {429, 500, 502, 503, 504}


class DownloadError(Exception):
    """The list could not be fetched; the message says why."""


class BlockedTarget(DownloadError):
    """The URL points somewhere BanGUI must not fetch from."""


@dataclass(frozen=True)
class DownloadPolicy:
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    attempts: int = 3
    backoff: float = 2.0  # seconds before the 2nd attempt; doubles each time
    allow_private: bool = False
    user_agent: str = "BanGUI blocklist importer"


@dataclass(frozen=True)
class Download:
    url: str  # the final URL after redirects
    body: bytes
    attempts: int
    seconds: float


def _disallowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return _disallowed(embedded)
    for attr, label in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(ip, attr):
            return label
    if not ip.is_global:
        return "non-global"
    return None


def check_target(url: str, *, allow_private: bool = False,
                 resolve: Callable[[str], list[str]] | None = None) -> None:
    """Raise BlockedTarget unless ``url`` is http(s) to a public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedTarget(f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise BlockedTarget("the URL has no host")
    if parts.username or parts.password:
        raise BlockedTarget("URLs with credentials are not allowed")
    if allow_private:
        return
    addresses = (resolve or _resolve)(parts.hostname)
    if not addresses:
        raise BlockedTarget(f"{parts.hostname} does not resolve")
    for address in addresses:
        reason = _disallowed(ipaddress.ip_address(address.split("%", 1)[0]))
        if reason:
            raise BlockedTarget(
                f"{parts.hostname} resolves to {address}, a {reason} address; BanGUI only "
                "fetches blocklists from public addresses (set BANGUI_BLOCKLIST_ALLOW_PRIVATE "
                "to allow private targets)"
            )


def _resolve(host: str) -> list[str]:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return [host.strip("[]")]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DownloadError(f"cannot resolve {host}: {exc.strerror}") from None
    return sorted({info[4][0] for info in infos})


def fetch(url: str, policy: DownloadPolicy = DownloadPolicy(), *,
          session: requests.Session | None = None,
          sleep: Callable[[float], None] = time.sleep) -> Download:
    """Fetch ``url`` under ``policy``; retries 429/5xx/timeouts with backoff."""
    started = time.monotonic()
    session = session or requests.Session()
    last_error = "no attempt made"
    for attempt in range(1, policy.attempts + 1):
        try:
            final_url, body = _fetch_once(url, policy, session)
            return Download(final_url, body, attempt, time.monotonic() - started)
        except _Retryable as exc:
            last_error = str(exc)
            if attempt < policy.attempts:
                sleep(policy.backoff * 2 ** (attempt - 1))
    raise DownloadError(f"gave up after {policy.attempts} attempts: {last_error}")


class _Retryable(Exception):
    pass


def _fetch_once(url: str, policy: DownloadPolicy,
                session: requests.Session) -> tuple[str, bytes]:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_target(current, allow_private=policy.allow_private)
        try:
            response = session.get(
                current, stream=True, allow_redirects=False, timeout=policy.timeout,
                headers={"User-Agent": policy.user_agent, "Accept": "text/plain, */*"},
            )
        except requests.Timeout:
            raise _Retryable(f"timed out after {policy.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        with response:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                current = urljoin(current, location)
                continue
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status_code} from {urlsplit(current).hostname}")
            if response.status_code != 200:
                raise DownloadError(f"HTTP {response.status_code} from {current}")
            return current, _read_capped(response, policy)
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects")


def _read_capped(response: requests.Response, policy: DownloadPolicy) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise DownloadError(f"the list is {int(declared):,} bytes, over the "
                            f"{policy.max_bytes:,}-byte limit")
    body = bytearray()
    deadline = time.monotonic() + policy.timeout * 4
    try:
        for chunk in response.iter_content(65536):
            body += chunk
            if len(body) > policy.max_bytes:
                raise DownloadError(f"the list is over the {policy.max_bytes:,}-byte limit")
            if time.monotonic() > deadline:
                raise _Retryable("the download was too slow")
    except requests.RequestException as exc:
        raise _Retryable(f"the download broke off ({type(exc).__name__})") from None
    return bytes(body)
