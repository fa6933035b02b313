"""Sending one message to one channel URL: apprise, or BanGUI's signed webhook.

``bangui+https://host/path?secret=S`` (or ``bangui+http://``) posts the
notification as JSON to ``https://host/path`` with two headers:
``X-BanGUI-Timestamp`` (Unix seconds) and ``X-BanGUI-Signature``
(``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` under ``S``).
Every other URL goes to apprise (ntfy, Gotify, Telegram, Matrix, Slack,
email, ``json://`` …).

Outbound addresses are guarded like blocklist downloads
(:func:`blocklists.download.check_target`): a self-hostable service's host
(one whose apprise plugin has a plain-text scheme too, e.g. ``json``,
``ntfy``, ``gotify``, ``mailto``) and the webhook's host must resolve to
public addresses unless ``BANGUI_NOTIFY_ALLOW_PRIVATE`` is set. Cloud
services (Telegram, Discord …) talk to their own fixed hosts.

Each attempt has a deadline (``BANGUI_NOTIFY_TIMEOUT``: apprise's connect
and read timeouts, requests' for the webhook); :func:`deliver` retries with
backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
import requests
from django.conf import settings

from blocklists.download import BlockedTarget, check_target

WEBHOOK_SCHEMES = {"bangui+https": "https", "bangui+http": "http"}
SIGNATURE_HEADER = "X-BanGUI-Signature"
TIMESTAMP_HEADER = "X-BanGUI-Timestamp"
BACKOFF = 2.0  # seconds before the second attempt; doubles each time


class InvalidURL(ValueError):
    """A channel URL BanGUI cannot send to; ``str()`` says why."""


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    severity: str
    payload: dict[str, Any]  # the signed webhook's JSON body


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    detail: str
    attempts: int


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _webhook_parts(url: str) -> tuple[str, str]:
    """(the https/http URL to post to, the signing secret)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    secret = "".join(v for k, v in query if k == "secret")
    if not secret:
        raise InvalidURL("a bangui+https:// webhook needs its signing secret: ?secret=…")
    if not parts.hostname:
        raise InvalidURL("the webhook URL has no host")
    rest = urlencode([(k, v) for k, v in query if k != "secret"])
    target = urlunsplit((WEBHOOK_SCHEMES[parts.scheme.lower()], parts.netloc, parts.path or "/",
                         rest, ""))
    return target, secret


def _guard(host: str) -> None:
    if not host:
        return
    bracketed = f"[{host}]" if ":" in host else host
    try:
        check_target(f"http://{bracketed}/", allow_private=settings.NOTIFY_ALLOW_PRIVATE)
    except BlockedTarget as exc:
        # check_target speaks of blocklists; say what is meant here.
        raise InvalidURL(str(exc).replace("fetches blocklists from", "sends notifications to")
                         .replace("BANGUI_BLOCKLIST_ALLOW_PRIVATE",
                                  "BANGUI_NOTIFY_ALLOW_PRIVATE")) from None
    except Exception as exc:  # a DownloadError: the host does not resolve
        raise InvalidURL(str(exc)) from None


def _plugin(url: str):
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise InvalidURL("apprise does not understand this URL (see its list of services)")
    return plugin


def check(url: str, *, resolve: bool = True) -> None:
    """Raise InvalidURL unless BanGUI can send to ``url``. ``resolve``:
    check the host's addresses too (sending does; saving a channel does)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in WEBHOOK_SCHEMES:
        target, _ = _webhook_parts(url)
        if resolve:
            _guard(urlsplit(target).hostname or "")
        return
    plugin = _plugin(url)
    if resolve and getattr(type(plugin), "protocol", None):
        _guard(getattr(plugin, "host", "") or "")


def _send_webhook(url: str, message: Message, timeout: float) -> str:
    target, secret = _webhook_parts(url)
    body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    response = requests.post(
        target, data=body, timeout=timeout, allow_redirects=False,
        headers={"Content-Type": "application/json", "User-Agent": "BanGUI notifications",
                 TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)})
    if not 200 <= response.status_code < 300:
        raise _Failed(f"the webhook answered HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


_APPRISE_TYPES = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING,
                  "critical": apprise.NotifyType.FAILURE}


def _send_apprise(url: str, message: Message, timeout: float) -> str:
    plugin = _plugin(url)
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    # A redirect could lead past the guard (to a loopback or private host).
    plugin.redirects = False
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        ok = plugin.notify(body=message.text, title=message.title,
                           notify_type=_APPRISE_TYPES.get(message.severity,
                                                          apprise.NotifyType.INFO))
        said = " ".join(line.strip() for line in log.getvalue().splitlines() if line.strip())
    if not ok:
        raise _Failed(said or "apprise could not send it")
    return "sent"


class _Failed(Exception):
    pass


def send_once(url: str, message: Message, timeout: float | None = None) -> str:
    """One attempt; raises _Failed/InvalidURL with why, or returns a detail."""
    timeout = timeout or settings.NOTIFY_TIMEOUT
    check(url)
    if urlsplit(url).scheme.lower() in WEBHOOK_SCHEMES:
        try:
            return _send_webhook(url, message, timeout)
        except requests.RequestException as exc:
            raise _Failed(f"the webhook did not answer: {type(exc).__name__}") from None
    return _send_apprise(url, message, timeout)


def deliver(url: str, message: Message, *, attempts: int | None = None,
            sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Send with retries and backoff (2 s, 4 s …). An invalid or refused URL
    is not retried: it will not get better by waiting."""
    attempts = attempts or settings.NOTIFY_ATTEMPTS
    why = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            return Outcome(True, send_once(url, message), attempt)
        except InvalidURL as exc:
            return Outcome(False, str(exc), attempt)
        except _Failed as exc:
            why = str(exc)
        except Exception as exc:  # a plugin's own failure: keep the worker going
            why = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            sleep(BACKOFF * 2 ** (attempt - 1))
    tried = f"{attempts} attempt{'s' if attempts > 1 else ''}"
    return Outcome(False, f"gave up after {tried}: {why}", attempts)
