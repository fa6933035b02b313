from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from geo.cache import GeoCache
from geo.mmdb import BUNDLED_DB, MmdbResolver
from geo.result import SOURCE_MMDB, GeoResult, make_result


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StubResolver:
    """Answers from a dict; None in the dict means "tried and failed".
    Records every call."""

    remote = False
    source = SOURCE_MMDB

    def __init__(self, answers: dict[str, str | None] | None = None, *, remote=False) -> None:
        self.answers = answers or {}
        self.remote = remote
        self.calls: list[list[str]] = []

    def resolve(self, ips) -> dict[str, GeoResult | None]:
        ips = list(ips)
        self.calls.append(ips)
        out: dict[str, GeoResult | None] = {}
        for ip in ips:
            code = self.answers.get(ip)
            out[ip] = make_result(ip, code, self.source) if code else None
        return out


@pytest.fixture(scope="session")
def bundled_resolver() -> MmdbResolver:
    return MmdbResolver(BUNDLED_DB)


@pytest.fixture
def mmdb_cache(bundled_resolver) -> GeoCache:
    return GeoCache([bundled_resolver])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class RecordingServer:
    """A stand-in for ip-api.com's batch endpoint on 127.0.0.1."""

    url: str = ""
    requests: list[list[str]] = field(default_factory=list)
    status: int = 200
    countries: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def ipapi_server():
    state = RecordingServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ips = json.loads(body)
            state.requests.append(ips)
            if state.status != 200:
                self.send_response(state.status)
                self.end_headers()
                return
            rows = []
            for ip in ips:
                code = state.countries.get(ip)
                if code:
                    rows.append({"status": "success", "countryCode": code,
                                 "as": "AS64500 Example Net", "org": "Example", "query": ip})
                else:
                    rows.append({"status": "fail", "message": "reserved range", "query": ip})
            payload = json.dumps(rows).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/batch"
    yield state
    server.shutdown()
    server.server_close()
