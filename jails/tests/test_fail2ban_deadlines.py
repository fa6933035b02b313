"""A fail2ban socket that trickles its reply a byte at a time (a fault a real
server cannot show on demand, so a tiny fake serves it): one reply has one
deadline, and one request learns once that fail2ban is not answering."""

from __future__ import annotations

import pickle
import socket

import pytest

from conftest import TrickleServer
from jails.fail2ban import Fail2banClient, Timeout
from jails.fail2ban.protocol import END

TRICKLE_FOR = 20.0  # s: the fake stops by itself


@pytest.fixture
def trickling(tmp_path):
    """A fail2ban socket whose every reply is valid but comes a byte every
    0.05 s."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "f2b.sock"))
    sock.listen(16)
    server = TrickleServer(sock, b"", pickle.dumps((0, "pong" * 100), protocol=2) + END,
                           interval=0.05, seconds=TRICKLE_FOR)
    server.path = tmp_path / "f2b.sock"
    yield server
    server.close()


def test_a_trickling_reply_times_out_within_one_deadline(trickling):
    client = Fail2banClient(str(trickling.path), timeout=0.5, connect_retries=0)
    with pytest.raises(Timeout):
        client.ping()  # each byte comes well within the per-recv timeout


@pytest.mark.django_db
def test_a_page_asks_a_hung_fail2ban_once(trickling, settings, admin_client):
    settings.FAIL2BAN_SOCKET = str(trickling.path)
    settings.FAIL2BAN_TIMEOUT = 0.5
    response = admin_client.get("/")
    assert response.status_code == 200
    assert "fail2ban is not answering" in response.content.decode()
    # The view's live read timed out; the status bar and the rest of the
    # page learned it from the request's budget instead of asking again.
    assert trickling.connections == 1


@pytest.mark.django_db
def test_health_ready_answers_with_a_trickling_fail2ban(trickling, settings, client):
    settings.FAIL2BAN_SOCKET = str(trickling.path)
    settings.FAIL2BAN_TIMEOUT = 0.5
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["fail2ban"] == "down"
