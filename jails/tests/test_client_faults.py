"""Faults a real fail2ban cannot show on demand, served by a tiny fake
socket server: hangs, garbage, oversize replies, hostile pickles."""

from __future__ import annotations

import contextlib
import pickle
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from jails.fail2ban import Fail2banClient, ProtocolError, Timeout, UnknownJail, Unreachable
from jails.fail2ban.protocol import END, decode


class FakeServer:
    """Accepts connections on a Unix socket and answers every request with
    whatever ``reply(request_bytes)`` returns (None = say nothing)."""

    def __init__(self, path: Path, reply: Callable[[bytes], bytes | None]):
        self.path = path
        self.reply = reply
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while not data.endswith(END):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                answer = self.reply(data)
                if answer is None:
                    self._stop.wait(2)  # hang: keep the connection open, silent
                    continue
                with contextlib.suppress(OSError):
                    conn.sendall(answer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def fake(tmp_path):
    servers = []

    def make(reply):
        server = FakeServer(tmp_path / f"fake{len(servers)}.sock", reply)
        servers.append(server)
        return server, Fail2banClient(str(server.path), timeout=0.5)

    yield make
    for s in servers:
        s.close()


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/bangui-pwned",))


def reply_of(payload, code=0) -> bytes:
    return pickle.dumps((code, payload), pickle.HIGHEST_PROTOCOL) + END


def test_a_hung_server_times_out(fake):
    _, client = fake(lambda req: None)
    with pytest.raises(Timeout, match="did not answer 'ping'"):
        client.ping()


def test_a_garbage_reply_is_a_protocol_error(fake):
    _, client = fake(lambda req: b"this is not a pickle" + END)
    with pytest.raises(ProtocolError, match="cannot read"):
        client.ping()


def test_a_reply_of_the_wrong_shape_is_a_protocol_error(fake):
    _, client = fake(lambda req: pickle.dumps("pong") + END)
    with pytest.raises(ProtocolError, match="code, payload"):
        client.ping()


def test_an_oversize_reply_is_refused(fake, tmp_path):
    server, _ = fake(lambda req: reply_of("x" * 200_000))
    client = Fail2banClient(str(server.path), timeout=2, max_reply_bytes=50_000)
    with pytest.raises(ProtocolError, match="exceeded 50,000 bytes"):
        client.ping()


def test_a_hostile_pickle_is_refused_and_not_executed(fake):
    marker = Path("/tmp/bangui-pwned")
    marker.unlink(missing_ok=True)
    _, client = fake(lambda req: reply_of(Evil()))
    with pytest.raises(ProtocolError, match=r"tried to build (posix|os)\.system"):
        client.ping()
    assert not marker.exists()


def test_a_connection_closed_mid_reply_is_unreachable(fake):
    _, client = fake(lambda req: reply_of("pong")[:10])
    with pytest.raises(Unreachable, match="closed the connection"):
        client.ping()


def test_a_fail2ban_exception_becomes_a_readable_error(fake):
    # What fail2ban sends for an unknown jail, built without importing fail2ban:
    # pickle a local class, then rename it to fail2ban's module and class.
    payload = pickle.dumps(
        (1, _ForeignException("nojail")), protocol=2
    ).replace(b"_ForeignException", b"UnknownJailException").replace(
        __name__.encode(), b"fail2ban.exceptions")
    _, client = fake(lambda req: payload + END)
    with pytest.raises(UnknownJail, match="no jail named 'nojail'"):
        client.jail_status("nojail")


def test_the_request_is_a_pickled_list_with_the_end_marker(fake):
    server, client = fake(lambda req: reply_of("pong"))
    assert client.ping()
    (request,) = server.requests
    assert request.endswith(END)
    assert pickle.loads(request[: -len(END)]) == ["ping"]


def test_the_unpickler_allows_plain_builtins():
    data = pickle.dumps((0, [("a", 1), {"b": {2, 3}}, frozenset({4})]), protocol=2)
    assert decode(data) == (0, [("a", 1), {"b": {2, 3}}, frozenset({4})])


def test_the_unpickler_maps_builtin_exceptions():
    code, payload = decode(pickle.dumps((1, ValueError("bad value"))))
    assert code == 1
    assert payload.remote_class == "ValueError"
    assert payload.message() == "bad value"


def test_the_unpickler_refuses_other_classes():
    import collections

    with pytest.raises(ProtocolError, match="OrderedDict"):
        decode(pickle.dumps((0, collections.OrderedDict(a=1))))


class _ForeignException(Exception):
    pass


def test_several_commands_answered_in_one_reply_each(fake):
    server, client = fake(lambda req: reply_of("1.0.2") + reply_of(["a", "b"]) + reply_of(3))
    with client.session() as conn:
        assert conn.call_many(["version"], ["status"], ["get", "sshd", "maxretry"]) == [
            "1.0.2", ["a", "b"], 3]
    request = server.requests[0]
    assert request.count(END) == 3  # one write: all three commands at once


def test_fewer_answers_than_commands_is_unreachable_not_a_wrong_answer(fake):
    _, client = fake(lambda req: reply_of("1.0.2") + reply_of(["a"]))  # then closes
    with client.session() as conn, pytest.raises(Unreachable, match="closed the connection"):
        conn.call_many(["version"], ["status"], ["get", "sshd", "maxretry"])


def test_an_answer_that_splits_in_two_is_refused(fake):
    # a payload holding the end marker reads as one answer too many
    _, client = fake(lambda req: reply_of("x" + END.decode() + "y") + reply_of(1))
    with client.session() as conn, pytest.raises(ProtocolError, match="answers to 2"):
        conn.call_many(["get", "sshd", "logpath"], ["get", "sshd", "maxretry"])


def test_several_commands_to_a_hung_server_time_out_once(fake):
    _, client = fake(lambda req: None)
    with client.session() as conn, pytest.raises(Timeout, match="did not answer 'version'"):
        conn.call_many(["version"], ["status"])
