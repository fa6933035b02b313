"""Who is asking: a bearer token or the browser's session (docs/api.md).

A token's request acts as its owner (``request.user`` is set to them, so
the audit trail and the archive name them); a session's request is the
logged-in user's, with Django's CSRF check on every write (ninja's
SessionAuth). A bearer header that is wrong is refused at once: it never
falls back to the session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from api import tokens
from api.errors import ApiError
from api.models import ApiToken
from bangui.clientip import client_ip

RATE_PREFIX = "bangui:api-rate:"


@dataclass(frozen=True)
class Caller:
    """``request.auth`` of every API request."""

    user: AbstractBaseUser
    token: ApiToken | None = None

    def __str__(self) -> str:
        return f"token:{self.token.pk}" if self.token else f"user:{self.user.pk}"

    def can_write(self, action: str = "ban") -> bool:
        return tokens.can_write(self.user, self.token, action)


def rate_limit(token: ApiToken) -> None:
    """At most ``BANGUI_API_RATE_LIMIT`` requests a minute per token (0:
    no limit), counted in Django's cache in fixed minutes. The cache is
    per process (LocMemCache): with N web workers a token may make up to
    N times as many; a shared cache backend makes it exact."""
    limit = settings.BANGUI_API_RATE_LIMIT
    if not limit:
        return
    now = time.time()
    minute = int(now // 60)
    key = f"{RATE_PREFIX}{token.pk}:{minute}"
    cache.add(key, 0, 120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 120)
        count = 1
    if count > limit:
        wait = max(1, int(60 - now % 60) + 1)
        raise ApiError(429, f"more than {limit} requests a minute with this token; try again "
                            f"in {wait} s", headers={"Retry-After": str(wait)})


class Bearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        try:
            found = tokens.check(token, client_ip(request))
        except tokens.Refused as exc:
            raise ApiError(exc.status, exc.detail) from None
        rate_limit(found)
        # The audit trail names the owner (and the request log, which reads
        # the user the request loaded).
        request.user = request._cached_user = found.user
        return Caller(found.user, found)


class Session(SessionAuth):
    """The browser's session; CSRF is checked on writes (csrf=True), once
    there is a signed-in user (without one the answer is 401, not a CSRF
    403)."""

    def __call__(self, request: HttpRequest) -> Caller | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return Caller(user)
        return None


def caller(request: HttpRequest) -> Caller:
    return request.auth  # set by Bearer or Session


def require_write(request: HttpRequest, action: str = "ban") -> Caller:
    """The caller, if they may do ``action`` ("ban" or "operate"); 403
    otherwise."""
    who = caller(request)
    if who.token is not None and who.token.scope != ApiToken.Scope.WRITE:
        raise ApiError(403, "this token is read-only")
    if not who.can_write(action):
        raise ApiError(403, f"{who.user.get_username()}'s role may not do this "
                            f"({'ban or unban' if action == 'ban' else 'operate jails'})")
    return who
