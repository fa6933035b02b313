"""A fail2ban socket that trickles its reply a byte at a time (a fault a real
server cannot show on demand, so a tiny fake serves it): one reply has one
deadline, and one request learns once that fail2ban is not answering."""

from __future__ import annotations

import pickle
import socket
import threading
import time
from pathlib import Path

import pytest

from jails.fail2ban import Fail2banClient, Timeout
from jails.fail2ban.protocol import END

TRICKLE_FOR = 20.0  # s: the fake stops by itself


class TricklingFail2ban:
    """Answers every command with a valid reply, one byte every 0.05 s."""

    def __init__(self, path: Path):
        self.path = path
        self.connections = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        end = time.monotonic() + TRICKLE_FOR
        while not self.stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn, end), daemon=True).start()

    def _answer(self, conn, end):
        reply = pickle.dumps((0, "pong" * 100), protocol=2) + END
        try:
            conn.settimeout(1)
            conn.recv(4096)
            for i in range(len(reply)):
                if self.stop.is_set() or time.monotonic() > end:
                    break
                conn.sendall(reply[i:i + 1])
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickling(tmp_path):
    server = TricklingFail2ban(tmp_path / "f2b.sock")
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
