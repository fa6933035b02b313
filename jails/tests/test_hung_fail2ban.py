"""One wait per request on a hung or dead fail2ban (issue #24).

A fail2ban that accepts connections and never answers is a fault a real
server cannot show on demand, so a tiny fake serves it; it counts the
connections it accepted. Every page that asks fail2ban (dashboard, jail
page, IP page, status bar, map, this host's node page) must wait for it
once: the first timeout is remembered for the rest of the request
(``jails.fail2ban.client.Budget``, set per request by
``jails.middleware``), and so is a refused or missing socket. No
wall-clock asserts here: connections are counted."""

from __future__ import annotations

import pickle
import socket
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

import jails.fail2ban.client as client_module
from jails.fail2ban import Fail2banClient, Timeout, Unreachable
from jails.fail2ban.client import Budget
from jails.fail2ban.protocol import END
from nodes.models import Node

TIMEOUT = 0.3  # s: BANGUI_FAIL2BAN_TIMEOUT for these tests


class HungFail2ban:
    """A Unix socket that accepts every connection, reads nothing and never
    answers (the connections stay open until :meth:`close`)."""

    def __init__(self, path):
        self.path = str(path)
        self._accepted = 0
        self._markers = 0
        self._marker: str | None = None
        self._marker_seen = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(64)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return  # closed
            if self._marker is not None and peer == self._marker:
                conn.close()
                self._marker_seen.set()
                continue
            with self._lock:
                self._accepted += 1
                self._held.append(conn)

    def connections(self) -> int:
        """Connections accepted since the last call, every connect made
        before it included: accept serves the backlog in order, so once a
        marker connection of our own (bound to a name we know) is accepted,
        all the earlier ones were too. No timing involved."""
        self._markers += 1
        self._marker = f"{self.path}.marker{self._markers}"
        self._marker_seen.clear()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as marker:
            marker.bind(self._marker)
            marker.connect(self.path)
            assert self._marker_seen.wait(30), "the fake stopped accepting"
        with self._lock:
            count, self._accepted = self._accepted, 0
        return count

    def close(self):
        self._sock.close()
        with self._lock:
            for conn in self._held:
                conn.close()


@pytest.fixture
def hung(tmp_path, settings):
    server = HungFail2ban(tmp_path / "hung.sock")
    settings.FAIL2BAN_SOCKET = server.path
    settings.FAIL2BAN_TIMEOUT = TIMEOUT
    yield server
    server.close()


@pytest.fixture
def this_node(db, settings):
    """This host registered as a node (its node page exists), up."""
    now = timezone.now()
    return Node.objects.create(name=settings.BANGUI_NODE, holder=f"{settings.BANGUI_NODE}:1:x",
                               heartbeat_at=now, expires_at=now + timedelta(seconds=60),
                               fail2ban_up=True, jails=["sshd"])


class ConnectCounter:
    """Counts connect() calls to one path, made through the client's socket
    module (for a socket nothing accepts on: refused or missing)."""

    def __init__(self, monkeypatch, path: str):
        counter = self
        self.count = 0
        real = socket.socket

        class Counting(real):
            def connect(self, address):
                if address == path:
                    counter.count += 1
                return super().connect(address)

        monkeypatch.setattr(client_module.socket, "socket", Counting)

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


@pytest.fixture(params=["refused", "missing"])
def dead(request, tmp_path, settings, monkeypatch):
    """A socket file nobody listens on (ECONNREFUSED), or no file (ENOENT)."""
    path = str(tmp_path / "dead.sock")
    if request.param == "refused":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.close()  # the file stays; connects are refused
    settings.FAIL2BAN_SOCKET = path
    settings.FAIL2BAN_TIMEOUT = TIMEOUT
    return ConnectCounter(monkeypatch, path)


PAGES = ["/", "/jails/", "/jails/sshd/", "/ip/192.0.2.1/", "/status/", "/map/", "NODE"]


def _url(page: str, settings) -> str:
    return f"/nodes/{settings.BANGUI_NODE}/" if page == "NODE" else page


def _says_unreachable(response) -> bool:
    return "fail2ban unreachable" in response.content.decode()


@pytest.mark.parametrize("page", PAGES)
def test_a_page_waits_once_for_a_hung_fail2ban(hung, this_node, admin_client, settings, page):
    response = admin_client.get(_url(page, settings))
    assert response.status_code < 500
    assert _says_unreachable(response)
    assert hung.connections() == 1


@pytest.mark.parametrize("page", PAGES)
def test_a_page_asks_a_dead_fail2ban_once(dead, this_node, admin_client, settings, page):
    response = admin_client.get(_url(page, settings))
    assert response.status_code < 500
    assert _says_unreachable(response)
    assert dead.take() == 1


def test_the_memo_ends_with_the_request(hung, this_node, admin_client):
    for _ in range(2):
        response = admin_client.get("/")
        assert response.status_code == 200 and _says_unreachable(response)
        assert hung.connections() == 1  # the second request asks again


def test_the_memo_ends_with_the_request_for_a_dead_fail2ban(dead, this_node, admin_client):
    for _ in range(2):
        assert _says_unreachable(admin_client.get("/status/"))
        assert dead.take() == 1


@pytest.mark.django_db
def test_health_ready_reports_a_hung_fail2ban_down(hung, client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["fail2ban"] == "down"
    assert hung.connections() == 1


# --- the client and its Budget, without HTTP --------------------------------------------
def test_a_budget_remembers_the_first_timeout(tmp_path):
    server = HungFail2ban(tmp_path / "hung.sock")
    try:
        budget = Budget()
        first = Fail2banClient(server.path, timeout=TIMEOUT, budget=budget)
        with pytest.raises(Timeout) as failed:
            first.ping()
        other = Fail2banClient(server.path, timeout=TIMEOUT, budget=budget)
        with pytest.raises(Timeout) as again:
            other.server_status()
        assert again.value is failed.value  # the same error, at once
        assert server.connections() == 1
    finally:
        server.close()


def test_without_a_budget_every_call_asks(tmp_path, monkeypatch):
    """Outside a request (tasks, commands) nothing is remembered."""
    path = str(tmp_path / "nothing.sock")
    counter = ConnectCounter(monkeypatch, path)
    client = Fail2banClient(path, connect_retries=0)
    for _ in range(2):
        with pytest.raises(Unreachable):
            client.ping()
    assert counter.take() == 2


class PongServer:
    """fail2ban's answer to ``ping``, for as many connections as come."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(END):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.endswith(END):
                    conn.sendall(pickle.dumps((0, "pong"), pickle.HIGHEST_PROTOCOL) + END)

    def close(self):
        self.sock.close()


def test_a_restarted_fail2ban_is_asked_again_in_the_same_request(tmp_path, monkeypatch):
    """A reload's probe in the request that found fail2ban down sees it come
    back: a new socket file means fail2ban started again."""
    path = str(tmp_path / "f2b.sock")
    counter = ConnectCounter(monkeypatch, path)
    client = Fail2banClient(path, connect_retries=0, budget=Budget())
    with pytest.raises(Unreachable):
        client.ping()
    with pytest.raises(Unreachable):
        client.ping()
    assert counter.take() == 1  # the second failed at once
    server = PongServer(path)
    try:
        assert client.ping() is True
        assert counter.take() == 1
    finally:
        server.close()
