"""A database restarting under the web tier and the worker: a request waits
for it (bangui.middleware.DatabaseReadyMiddleware), the worker's queue pull
skips a beat (bangui.broker.ORM). The real restart runs in bench/soak.py
(PostgreSQL restarted mid-run); here the errors a restart raises, on demand."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError, connection

from bangui import broker, dbretry, middleware

pytestmark = pytest.mark.django_db


def test_a_request_waits_for_the_database_to_come_back(admin_client, monkeypatch, caplog):
    real, calls = connection.ensure_connection, []

    def restarting():
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("FATAL:  the database system is starting up")
        return real()

    monkeypatch.setattr(connection, "ensure_connection", restarting)
    # The retry closes the connections (a restart broke them); not the
    # test's, which holds its transaction.
    monkeypatch.setattr(dbretry.connections, "close_all", lambda: None)
    with caplog.at_level(logging.WARNING, logger="bangui.db"):
        response = admin_client.get("/jails/")
    assert response.status_code == 200
    assert len(calls) >= 3
    assert "the database is busy or unreachable (FATAL:  the database system is starting up)" \
           in caplog.text


def _cut_once(monkeypatch):
    """accounts.audit.settle_unanswered (run by the audit page) meets a
    restart's error on its first call, as a statement in flight does."""
    from accounts import audit
    real, calls = audit.settle_unanswered, []

    def cut():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return real()

    monkeypatch.setattr(audit, "settle_unanswered", cut)
    monkeypatch.setattr(middleware.connections, "close_all", lambda: None)  # the test's transaction
    return calls


def test_a_read_cut_off_by_a_restart_runs_once_more(admin_client, monkeypatch, caplog):
    calls = _cut_once(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="bangui.db"):
        response = admin_client.get("/audit/")
    assert response.status_code == 200
    assert len(calls) == 2
    assert "Audit" in response.content.decode()
    assert "GET /audit/: the database went away mid-request (terminating connection " \
           "due to administrator command); running it again" in caplog.text


def test_a_write_cut_off_by_a_restart_is_not_repeated(rf):
    """A POST may have done half its work before the cut: it is not run
    again (it answers 503 and the user decides)."""
    ran = []
    ready = middleware.DatabaseReadyMiddleware(lambda request: None)
    cut = OperationalError("terminating connection due to administrator command")
    post = rf.post("/jails/sshd/ban/")
    ready.process_view(post, lambda request: ran.append(1), (), {})
    assert ready.process_exception(post, cut) is None
    assert ran == []
    # Any other error is not retried either, even on a GET.
    get = rf.get("/jails/")
    ready.process_view(get, lambda request: ran.append(1), (), {})
    assert ready.process_exception(get, OperationalError("no such table: x")) is None
    assert ran == []


def test_a_read_cut_off_twice_is_a_503(admin_client, monkeypatch, settings):
    settings.DEBUG = False
    from accounts import audit
    calls = []

    def cut():
        calls.append(1)
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(audit, "settle_unanswered", cut)
    monkeypatch.setattr(middleware.connections, "close_all", lambda: None)
    admin_client.raise_request_exception = False
    response = admin_client.get("/audit/")
    assert response.status_code == 503 and len(calls) == 2


def test_a_database_that_stays_away_is_a_503(client, monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.setattr(middleware, "DATABASE_WAIT_SECONDS", 0.3)

    def gone():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", gone)
    monkeypatch.setattr(dbretry.connections, "close_all", lambda: None)
    client.raise_request_exception = False
    response = client.get("/login/")
    assert response.status_code == 503
    assert "busy or restarting" in response.content.decode()


def test_the_queue_pull_skips_a_beat_on_a_restart_and_raises_anything_else(monkeypatch,
                                                                           caplog):
    monkeypatch.setattr(broker, "PAUSE_SECONDS", 0)
    orm = broker.ORM(list_key="node-test")

    def shutting_down(self):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(broker.DjangoQORM, "dequeue", shutting_down)
    with caplog.at_level(logging.WARNING, logger="bangui.db"):
        assert orm.dequeue() is None
    assert "task queue node-test: the database is busy or unreachable" in caplog.text

    def broken(self):
        raise OperationalError("no such table: django_q_ormq")

    monkeypatch.setattr(broker.DjangoQORM, "dequeue", broken)
    with pytest.raises(OperationalError):
        orm.dequeue()


@pytest.mark.parametrize(("message", "transient"), [
    ("FATAL:  the database system is starting up", True),
    ("FATAL:  the database system is shutting down", True),
    ("FATAL:  the database system is in recovery mode", True),
    ("FATAL:  the database system is not yet accepting connections", True),
    ("terminating connection due to administrator command", True),
    ("database is locked", True),
    ("no such table: django_q_ormq", False),
    ('relation "jails_banevent" does not exist', False),
])
def test_which_database_errors_pass_by_themselves(message, transient):
    assert dbretry.is_transient(OperationalError(message)) is transient
    assert dbretry.is_transient(ValueError(message)) is False  # only the database's errors
