"""The downloader against a real local HTTP http_server (and the guard refusing
that same http_server when private targets are not allowed)."""

from __future__ import annotations

import pytest

from blocklists.download import (
    BlockedTarget,
    DownloadError,
    DownloadPolicy,
    check_target,
    fetch,
)

LOCAL = DownloadPolicy(allow_private=True, backoff=0.01, timeout=2)


def test_it_downloads_a_list(http_server):
    http_server.add("/list.txt", body=b"203.0.113.1\n")
    result = fetch(http_server.base + "/list.txt", LOCAL)
    assert result.body == b"203.0.113.1\n"
    assert result.attempts == 1


def test_it_retries_a_500_then_succeeds(http_server):
    http_server.add("/flaky", status=500)
    http_server.add("/flaky", body=b"203.0.113.2\n")
    slept = []
    result = fetch(http_server.base + "/flaky", LOCAL, sleep=slept.append)
    assert result.body == b"203.0.113.2\n"
    assert result.attempts == 2
    assert slept == [0.01]


def test_it_gives_up_after_repeated_429(http_server):
    http_server.add("/busy", status=429)
    with pytest.raises(DownloadError, match="gave up after 3 attempts: HTTP 429"):
        fetch(http_server.base + "/busy", LOCAL, sleep=lambda s: None)
    assert http_server.hits["/busy"] == 3


def test_it_times_out_on_a_slow_server(http_server):
    http_server.add("/slow", body=b"203.0.113.3\n", delay=1.5)
    policy = DownloadPolicy(allow_private=True, timeout=0.3, attempts=2, backoff=0)
    with pytest.raises(DownloadError, match="timed out"):
        fetch(http_server.base + "/slow", policy)


def test_it_refuses_an_oversize_body(http_server):
    http_server.add("/big", body=b"203.0.113.4\n" * 1000)
    with pytest.raises(DownloadError, match="over the 100-byte limit"):
        fetch(http_server.base + "/big", DownloadPolicy(allow_private=True, max_bytes=100))


def test_it_does_not_retry_a_404(http_server):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(http_server.base + "/missing", LOCAL)
    assert http_server.hits["/missing"] == 1


def test_the_guard_refuses_localhost_when_private_targets_are_off(http_server):
    http_server.add("/list.txt", body=b"203.0.113.1\n")
    with pytest.raises(BlockedTarget, match="loopback"):
        fetch(http_server.base + "/list.txt", DownloadPolicy())
    assert "/list.txt" not in http_server.hits


def test_the_guard_rechecks_redirects(http_server, monkeypatch):
    # A "public" name that redirects to 127.0.0.1: the first hop passes the
    # guard (resolution faked as public), the redirect target must not.
    import blocklists.download as download

    real_resolve = download._resolve
    monkeypatch.setattr(download, "_resolve",
                        lambda host: ["93.184.216.34"] if host == "lists.example" else
                        real_resolve(host))
    port = http_server.base.rsplit(":", 1)[1]

    class FakeSession:
        def __init__(self):
            import requests

            self.real = requests.Session()

        def get(self, url, **kw):
            if url.startswith("http://lists.example"):
                url = url.replace("lists.example", f"127.0.0.1:{port}", 1)
            return self.real.get(url, **kw)

    http_server.add("/redir", status=302, headers={"Location": f"http://127.0.0.1:{port}/list.txt"})
    http_server.add("/list.txt", body=b"203.0.113.1\n")
    with pytest.raises(BlockedTarget, match=r"127\.0\.0\.1"):
        fetch("http://lists.example/redir", DownloadPolicy(), session=FakeSession())
    assert http_server.hits.get("/redir") == 1
    assert "/list.txt" not in http_server.hits


@pytest.mark.parametrize("url, reason", [
    ("ftp://example.org/list", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("http://user:pw@203.0.113.9/list", "credentials"),
    ("http://10.1.2.3/list", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[::1]/list", "loopback"),
    ("http://[::ffff:127.0.0.1]/list", "loopback"),
    ("http://[fe80::1]/list", "link-local"),
    ("http://224.0.0.1/list", "multicast"),
    ("http://0.0.0.0/list", "unspecified"),
    ("http://[2002:7f00:1::]/list", "loopback"),  # 6to4 wrapping 127.0.0.1
    ("http://100.64.0.1/list", "non-global"),  # carrier-grade NAT
])
def test_the_guard_refuses_non_public_targets(url, reason):
    with pytest.raises(BlockedTarget, match=reason):
        check_target(url)


def test_the_guard_accepts_a_public_address():
    asked = []

    def resolve(host):
        asked.append(host)
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    assert check_target("https://93.184.216.34/list.txt") is None
    assert check_target("https://lists.example/list.txt", resolve=resolve) is None
    # It passed because it looked at the addresses, not because it skipped them.
    assert asked == ["lists.example"]
    with pytest.raises(BlockedTarget, match="private"):
        check_target("https://lists.example/list.txt", resolve=lambda host: ["10.0.0.1"])
