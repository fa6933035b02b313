"""Fixtures of the API tests: tokens made as ``manage.py api_token`` makes
them, and the header that carries one."""

from __future__ import annotations

import pytest

from api import tokens


@pytest.fixture
def make_token(db):
    def make(user, scope: str = "read", **kwargs) -> str:
        return tokens.issue(user, scope, **kwargs).secret

    return make


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
