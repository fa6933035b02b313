"""Download a blocklist: SSRF guard, timeout, size cap, retry with backoff,
and one wall-clock deadline for the whole download.

The guard resolves the host and refuses private, loopback, link-local,
multicast, reserved and unspecified targets (IPv4 and IPv6, including
IPv4-mapped and 6to4/Teredo-embedded forms) unless private targets are
explicitly allowed. Redirects are followed by hand so every hop is checked.
Residual risk, documented in docs/blocklists.md: the name is resolved again
by the HTTP library (DNS rebinding between check and connect).

Why a deadline of its own: requests' ``timeout`` bounds each socket read,
so a server that sends one byte a second never times out, in the headers
or the body. Each attempt runs in a helper thread that the caller waits for
at most until the deadline; past it the socket is shut down (which wakes a
blocked read) and the caller gets a :class:`DownloadError` at once. Every
other failure of the download path (a redirect to ``http://[::1``, a port
of 99999, a broken TLS handshake) is a :class:`DownloadError` with a
message too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
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
    timeout: float = 30.0  # each connect and each read
    max_bytes: int = 10 * 1024 * 1024
    attempts: int = 3
    backoff: float = 2.0  # seconds before the 2nd attempt; doubles each time
    allow_private: bool = False
    user_agent: str = "BanGUI blocklist importer"
    deadline: float = 120.0  # the whole download, every attempt and pause included


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
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise BlockedTarget("the URL's port is not a number from 0 to 65535") from None
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
    """Fetch ``url`` under ``policy``; retries 429/5xx/timeouts with backoff,
    all within ``policy.deadline``."""
    started = time.monotonic()
    deadline = started + policy.deadline
    session = session or requests.Session()
    last_error = "no attempt made"
    for attempt in range(1, policy.attempts + 1):
        try:
            final_url, body = _attempt(url, policy, session, deadline)
            return Download(final_url, body, attempt, time.monotonic() - started)
        except _Retryable as exc:
            last_error = str(exc)
            pause = policy.backoff * 2 ** (attempt - 1)
            if attempt < policy.attempts and time.monotonic() + pause < deadline:
                sleep(pause)
                continue
            break
    tried = f"{attempt} attempt{'s' if attempt > 1 else ''}"
    raise DownloadError(f"gave up after {tried}: {last_error}")


def _attempt(url: str, policy: DownloadPolicy, session: requests.Session,
             deadline: float) -> tuple[str, bytes]:
    """One attempt, in a helper thread, waited for until ``deadline``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DownloadError(f"no complete answer within {policy.deadline:g} s")
    state: dict = {"abandoned": threading.Event()}

    def run():
        try:
            state["result"] = _fetch_once(url, policy, session, state)
        except BaseException as exc:  # handed to the caller below
            state["error"] = exc

    worker = threading.Thread(target=run, name="blocklist-download", daemon=True)
    worker.start()
    worker.join(remaining)
    if worker.is_alive():
        state["abandoned"].set()
        _shut(state.get("response"))
        raise DownloadError(f"no complete answer within {policy.deadline:g} s (the server "
                            "sends too slowly or not at all); nothing was imported")
    if "error" in state:
        raise state["error"]
    return state["result"]


def _shut(response: requests.Response | None) -> None:
    """Wake a read blocked on this response's socket (close alone does not)."""
    sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Retryable(Exception):
    pass


def _fetch_once(url: str, policy: DownloadPolicy, session: requests.Session,
                state: dict) -> tuple[str, bytes]:
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
        except (requests.RequestException, ValueError) as exc:  # InvalidURL and the like
            raise DownloadError(f"cannot fetch {current[:200]}: {type(exc).__name__}") from None
        state["response"] = response
        with response:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                try:
                    current = urljoin(current, location)
                    urlsplit(current).port  # noqa: B018 - raises for a bad port
                except ValueError:
                    raise DownloadError(f"the server redirected to an invalid URL "
                                        f"({location[:200]!r})") from None
                continue
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status_code} from {urlsplit(current).hostname}")
            if response.status_code != 200:
                raise DownloadError(f"HTTP {response.status_code} from {current}")
            return current, _read_capped(response, policy, state["abandoned"])
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects")


def _read_capped(response: requests.Response, policy: DownloadPolicy,
                 abandoned: threading.Event) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise DownloadError(f"the list is {int(declared):,} bytes, over the "
                            f"{policy.max_bytes:,}-byte limit")
    body = bytearray()
    try:
        for chunk in response.iter_content(65536):
            if abandoned.is_set():  # the caller gave up at the deadline
                raise DownloadError("abandoned at the deadline")
            body += chunk
            if len(body) > policy.max_bytes:
                raise DownloadError(f"the list is over the {policy.max_bytes:,}-byte limit")
    except requests.RequestException as exc:
        raise _Retryable(f"the download broke off ({type(exc).__name__})") from None
    except (OSError, ValueError) as exc:  # a socket shut at the deadline, a bad encoding
        raise _Retryable(f"the download broke off ({type(exc).__name__})") from None
    return bytes(body)
