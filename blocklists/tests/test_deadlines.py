"""Every wait of the download path has a deadline, and every failure is a
message: real loopback servers that trickle a byte at a time (in the body
and in the headers), never answer, or redirect to garbage."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

from blocklists import importer
from blocklists.download import BlockedTarget, DownloadError, DownloadPolicy, fetch
from conftest import TrickleServer

TRICKLE_FOR = 20.0  # s: how long a trickling server keeps going (bounded)


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n"
BODY = b"203.0.113.9\n" * 1000


def _server(mode: str) -> TrickleServer:
    """"body": the headers at once, the body a byte every 0.1 s; "headers":
    the headers themselves trickle; "silent": accepts and says nothing."""
    sock = socket.create_server(("127.0.0.1", 0))
    head, body = {"body": (HEAD, BODY), "headers": (b"", HEAD + BODY),
                  "silent": (b"", b"")}[mode]
    server = TrickleServer(sock, head, body, seconds=TRICKLE_FOR)
    server.url = f"http://127.0.0.1:{sock.getsockname()[1]}/list.txt"
    return server


@pytest.fixture
def trickle():
    servers = []

    def make(mode: str) -> TrickleServer:
        servers.append(_server(mode))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.mark.parametrize("mode", ["body", "headers", "silent"])
def test_a_trickling_server_hits_the_deadline(trickle, mode):
    server = trickle(mode)
    policy = DownloadPolicy(allow_private=True, timeout=1, attempts=3, backoff=0.05,
                            deadline=1.5)
    with pytest.raises(DownloadError, match=r"no complete answer within 1\.5 s|gave up"):
        fetch(server.url, policy)


def test_the_deadline_covers_retries_and_their_pauses(trickle):
    server = trickle("silent")
    policy = DownloadPolicy(allow_private=True, timeout=0.3, attempts=5, backoff=10,
                            deadline=2)
    with pytest.raises(DownloadError):
        fetch(server.url, policy)  # without the deadline: 5 attempts and 150 s of pauses
    assert server.connections == 1


@pytest.fixture
def local_lists(settings, monkeypatch):
    settings.BLOCKLIST_ALLOW_PRIVATE = True
    settings.BLOCKLIST_TIMEOUT = 30
    monkeypatch.setattr(importer, "PREVIEW_DEADLINE", 1.0)


@pytest.mark.django_db
def test_preview_makes_one_short_attempt_and_says_why(trickle, operator_client, local_lists):
    server = trickle("silent")
    response = operator_client.post(reverse("blocklist_preview"), {"url": server.url})
    assert response.status_code == 200
    body = response.content.decode()
    # The attempt's read timeout and the preview's deadline are both 1 s:
    # either may say it first (Debian 13's Python said the read timeout).
    assert "Preview failed" in body
    assert "no complete answer within 1 s" in body or "timed out after 1 s" in body
    assert server.connections == 1


@pytest.mark.django_db
@pytest.mark.parametrize("location", ["http://[::1", "http://127.0.0.1:99999/x",
                                      "http://[zz::1]/x"])
def test_a_redirect_to_a_broken_url_is_a_message(http_server, operator_client, local_lists,
                                                 location):
    http_server.add("/r", status=302, headers={"Location": location})
    with pytest.raises(DownloadError):
        fetch(http_server.base + "/r", DownloadPolicy(allow_private=True, timeout=2))
    response = operator_client.post(reverse("blocklist_preview"),
                                    {"url": http_server.base + "/r"})
    assert response.status_code == 200
    assert "Preview failed" in response.content.decode()


def test_a_port_out_of_range_is_refused_with_a_message():
    with pytest.raises(BlockedTarget, match="port"):
        fetch("http://127.0.0.1:99999/list.txt", DownloadPolicy(allow_private=True))


@pytest.mark.django_db
def test_a_preview_of_a_port_out_of_range_is_a_message(operator_client, local_lists):
    response = operator_client.post(reverse("blocklist_preview"),
                                    {"url": "http://127.0.0.1:99999/list.txt"})
    assert response.status_code in (200, 400)
    body = response.content.decode()
    assert "port" in body
