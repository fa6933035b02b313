"""The archive's cached aggregates are computed afresh after a response,
not during one (#29: no cold spike): a due value is still answered, the
request that found it due refreshes it once its answer has gone out, and
nothing is kept longer than before."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache
from django.core.signals import request_finished
from django.http import HttpResponse
from django.test import RequestFactory

from bangui.requestmemo import RequestMemoMiddleware
from jails.archive import rollup

# request_finished closes old database connections: allowed here.
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


class Source:
    """compute() for remembered(): counts its calls, answers 'v<n>'."""

    def __init__(self, fail: bool = False):
        self.calls = 0
        self.fail = fail

    def __call__(self):
        self.calls += 1
        if self.fail:
            raise RuntimeError("the database went away")
        return f"v{self.calls}"


def _make_due(monkeypatch, seconds_later: float) -> None:
    real = rollup.epoch
    monkeypatch.setattr(rollup, "epoch", lambda: real() + seconds_later)


def _request(view):
    """One request through the memo's middleware, its answer made but not
    yet sent (request_finished is the test's to send); what the view got."""
    seen = {}

    def get_response(request):
        seen["value"] = view()
        return HttpResponse("ok")

    assert RequestMemoMiddleware(get_response)(RequestFactory().get("/")).status_code == 200
    return seen


def test_a_fresh_value_is_answered_and_not_computed_again(monkeypatch):
    source = Source()
    assert rollup.remembered("t:", ("a",), source, 60) == "v1"
    _make_due(monkeypatch, 10)  # before half of the shortest life (30 s)
    seen = _request(lambda: rollup.remembered("t:", ("a",), source, 60))
    request_finished.send(sender=None)
    assert seen["value"] == "v1" and source.calls == 1


def test_a_due_value_is_answered_then_refreshed_after_the_response(monkeypatch):
    source = Source()
    rollup.remembered("t:", ("a",), source, 60)
    _make_due(monkeypatch, 31)  # past half of the longest life (60 s): due
    seen = _request(lambda: rollup.remembered("t:", ("a",), source, 60))
    assert seen["value"] == "v1"  # answered with what was held ...
    assert source.calls == 1  # ... and nothing computed while answering
    request_finished.send(sender=None)  # the server has sent it
    assert source.calls == 2
    seen = _request(lambda: rollup.remembered("t:", ("a",), source, 60))
    assert seen["value"] == "v2"


def test_a_second_process_does_not_refresh_what_the_first_claimed():
    """Two workers find the value due at once: the first claims the
    refresh, the second leaves it (and answers with the held value)."""
    source = Source()
    rollup.remembered("t:", ("a",), source, 60)
    key = rollup.cache_key("t:", ("a",))
    rollup._refresh(key, source, 60)
    rollup._refresh(key, source, 60)
    assert source.calls == 2  # the fill, then one refresh of the two


def test_outside_a_request_a_due_value_is_answered_as_held(monkeypatch):
    """A task or command reads the value (still within its life) and
    schedules nothing."""
    source = Source()
    rollup.remembered("t:", ("a",), source, 60)
    _make_due(monkeypatch, 31)
    assert rollup.remembered("t:", ("a",), source, 60) == "v1"
    request_finished.send(sender=None)
    assert source.calls == 1


def test_an_expired_value_is_computed_by_the_request_that_needs_it(monkeypatch):
    source = Source()
    rollup.remembered("t:", ("a",), source, 60)
    cache.clear()  # its life is over
    seen = _request(lambda: rollup.remembered("t:", ("a",), source, 60))
    assert seen["value"] == "v2" and source.calls == 2


def test_a_failed_refresh_keeps_the_value_and_is_logged(monkeypatch, caplog):
    good = Source()
    rollup.remembered("t:", ("a",), good, 60)
    _make_due(monkeypatch, 31)
    broken = Source(fail=True)
    seen = _request(lambda: rollup.remembered("t:", ("a",), broken, 60))
    with caplog.at_level(logging.ERROR, logger="bangui.requestmemo"):
        request_finished.send(sender=None)  # raises nothing
    assert seen["value"] == "v1" and broken.calls == 1
    assert "work after the response failed" in caplog.text
    assert rollup.remembered("t:", ("a",), good, 60) == "v1"


def test_nothing_is_kept_longer_than_its_seconds(monkeypatch):
    kept = []
    monkeypatch.setattr(rollup.cache, "set",
                        lambda key, value, timeout: kept.append((timeout, value[1])))
    now = rollup.epoch()
    for n in range(40):
        rollup.remembered("t:", ("part", n), lambda n=n: n, 60)
    assert all(30 <= life <= 60 and now + life / 2 - 1 <= due <= now + life / 2 + 1
               for life, due in kept)


def test_the_dashboard_is_answered_from_a_due_value_and_refreshed_after(
        admin_client, settings, tmp_path, monkeypatch):
    """Through the real view and Django's test client (which closes the
    response: request_finished): a due settled-days value is shown, and
    the client's close refreshes it."""
    settings.FAIL2BAN_SOCKET = str(tmp_path / "nothing-here.sock")
    calls = []
    real_epoch = rollup.epoch
    real = rollup._whole_days
    monkeypatch.setattr(rollup, "_whole_days", lambda *a: calls.append(a) or real(*a))
    assert admin_client.get("/?window=365d").status_code == 200
    filled = len(calls)
    assert filled  # the year's whole days came from the rollup
    _make_due(monkeypatch, 31)
    assert admin_client.get("/?window=365d").status_code == 200
    assert len(calls) == 2 * filled  # refreshed after the answer, each once
    monkeypatch.setattr(rollup, "epoch", real_epoch)  # back to now: the new values are fresh
    assert admin_client.get("/?window=365d").status_code == 200
    assert len(calls) == 2 * filled  # nothing recomputed
