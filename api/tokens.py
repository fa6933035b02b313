"""Issuing and checking API tokens (docs/api.md, "Tokens").

A token reads ``bgi_<prefix>_<secret>``: the prefix (8 hex digits) finds
its row, the SHA-256 of the whole token must equal the row's digest. The
secret has 256 random bits, so a plain hash is enough (no salt or slow
hash: nobody guesses 2**256).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from accounts import roles
from api.models import ApiToken

PREFIX = "bgi"
# last_used_at/ip are written at most this often per token (one write per
# request would make every API call a database write).
TOUCH_EVERY = timedelta(seconds=60)


class Refused(Exception):
    """A token that may not be used, and why (the API answers 401 or 403)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def networks(values: list[str]) -> list[str]:
    """``values`` as CIDR networks (ValueError names a bad one)."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP network (CIDR, e.g. 192.0.2.0/24)") from None
    return out


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str  # the whole token: shown once, never stored


def issue(user: AbstractBaseUser, scope: str, *, name: str = "", days: int | None = None,
          allow: list[str] | None = None) -> Issued:
    """A new token for ``user``; the returned ``secret`` is the only copy."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
    if days is not None and days < 1:
        raise ValueError("a token expires after at least one day")
    allowed = networks(allow or [])
    while True:
        prefix = secrets.token_hex(4)
        if not ApiToken.objects.filter(prefix=prefix).exists():
            break
    secret = f"{PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, digest=digest(secret), scope=scope,
        allowed_networks=allowed,
        expires_at=timezone.now() + timedelta(days=days) if days else None)
    return Issued(token, secret)


def check(secret: str, ip: str | None) -> ApiToken:
    """The token ``secret`` is, if it may be used now from ``ip``; Refused
    otherwise (401: unknown, expired, revoked, owner inactive; 403: not
    from this address). Notes its use (at most once a minute)."""
    parts = secret.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise Refused(401, "not a BanGUI API token")
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.digest, digest(secret.strip())):
        raise Refused(401, "unknown token")
    now = timezone.now()
    state = token.state(now)
    if state != "active":
        raise Refused(401, f"this token is {state}")
    if not token.user.is_active:
        raise Refused(401, "this token's owner is inactive")
    if not token.allows_from(ip):
        raise Refused(403, f"this token may not be used from {ip or 'an unknown address'}")
    if (token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY
            or token.last_used_ip != ip):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip
    return token


def may(user: AbstractBaseUser, action: str) -> bool:
    """Whether ``user``'s role allows ``action`` ("ban": ban and unban;
    "operate": every other fail2ban action; "users": others' tokens), as
    the pages decide it: accounts.roles, the one table."""
    return roles.may(user, action)


def can_write(user: AbstractBaseUser, token: ApiToken | None, action: str = "ban") -> bool:
    """A write needs a write token (or a session) and an owner whose role
    allows it: a token never exceeds its owner's role."""
    if token is not None and token.scope != ApiToken.Scope.WRITE:
        return False
    return may(user, action)


def revoke(token_id: int) -> ApiToken | None:
    """Revoke token ``token_id`` (again: no change); None when there is none."""
    ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    return ApiToken.objects.filter(pk=token_id).first()
