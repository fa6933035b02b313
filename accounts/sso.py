"""Single sign-on through one OpenID Connect provider (docs/sso.md).

django-allauth runs the protocol (discovery, PKCE, state, nonce, the ID
token); this module decides who may come in: the groups claim, mapped by
``BANGUI_OIDC_ROLE_MAP``, gives the role (the highest match wins), at every
login, through :mod:`accounts.users` (the one place roles are stored). No
match, a disabled user, or an attempt to link an IdP identity to a local
user: refused, audited, nothing created.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts import audit, users
from accounts.authlog import log_refused_sso
from accounts.roles import ROLES
from bangui.clientip import client_ip

PROVIDER = "openid_connect"  # allauth's provider class
PROVIDER_ID = "sso"  # in the URLs: /accounts/oidc/sso/login/callback/
ACTOR = f"sso:{PROVIDER_ID}"  # who changed a role in the audit trail


class Refused(Exception):
    """A single sign-on BanGUI turns away; the message says why."""


def enabled() -> bool:
    return bool(settings.BANGUI_OIDC_SERVER_URL)


def configured_app():
    """allauth's SocialApp for the provider, built from the environment on
    each call (never stored: the environment is the one source)."""
    from allauth.socialaccount.models import SocialApp

    if not enabled():
        return None
    return SocialApp(
        provider=PROVIDER, provider_id=PROVIDER_ID, name=settings.BANGUI_OIDC_NAME,
        client_id=settings.BANGUI_OIDC_CLIENT_ID, secret=settings.BANGUI_OIDC_CLIENT_SECRET,
        settings={"server_url": settings.BANGUI_OIDC_SERVER_URL, "oauth_pkce_enabled": True,
                  "scope": ["openid", "profile", "email"]},
    )


def button() -> dict | None:
    """What the login page shows for SSO (None: nothing)."""
    if not enabled():
        return None
    return {"name": settings.BANGUI_OIDC_NAME,
            "url": reverse("openid_connect_login", kwargs={"provider_id": PROVIDER_ID})}


def allow_form_to_provider(response: HttpResponse) -> HttpResponse:
    """The SSO button POSTs here and is redirected to the provider: Chrome
    applies CSP form-action to that redirect too, so the page with the
    button allows the provider's origin (the issuer's; docs/sso.md)."""
    if enabled():
        issuer = urlsplit(settings.BANGUI_OIDC_SERVER_URL)
        response._csp_update = {"form-action": [f"{issuer.scheme}://{issuer.netloc}"]}
    return response


def groups_of(extra_data: dict, claim: str) -> set[str]:
    """The groups in the ID token and the userinfo answer (IdPs put them in
    either or both; a single group may come as a plain string)."""
    found: set[str] = set()
    for part in ("id_token", "userinfo"):
        value = (extra_data.get(part) or {}).get(claim)
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            found.update(str(v) for v in value)
    return found


def role_for(groups: set[str], role_map: dict[str, str]) -> str | None:
    """The highest role any of ``groups`` maps to; None when none does."""
    matched = [role_map[g] for g in groups if g in role_map]
    return max(matched, key=ROLES.index) if matched else None


def _username(sociallogin) -> str:
    user = sociallogin.user
    return (user.get_username() if user is not None else "") or sociallogin.account.uid


def check(request: HttpRequest, sociallogin) -> str:
    """The role this login gives, applied to an existing user at once
    (raises Refused). A new user gets it in :func:`created`."""
    if sociallogin.state.get("process", "login") != "login":
        # "connect" would link this identity to whoever is signed in here.
        raise Refused("single sign-on only logs in; it does not link accounts")
    claim = settings.BANGUI_OIDC_GROUPS_CLAIM
    groups = groups_of(sociallogin.account.extra_data, claim)
    role = role_for(groups, settings.BANGUI_OIDC_ROLE_MAP)
    if role is None:
        raise Refused(f"your account at {settings.BANGUI_OIDC_NAME} is in no group that "
                      f"gives a BanGUI role (claim {claim!r}: "
                      f"{', '.join(sorted(groups)) or 'no groups'})")
    # BanGUI sends no mail and links nothing by address: addresses are not kept.
    sociallogin.email_addresses = []
    user = sociallogin.user
    if sociallogin.is_existing:
        if not user.is_active:
            raise Refused("this user is disabled in BanGUI")
        try:
            users.set_role(ACTOR, user, role)  # the group changed in the IdP: so does the role
        except users.UserChangeRefused as exc:
            raise Refused(f"your role would change to {role}, but {exc}") from None
    return role


def created(request: HttpRequest, sociallogin, user) -> None:
    """A first single sign-on made ``user``: their role from the groups."""
    role = role_for(groups_of(sociallogin.account.extra_data, settings.BANGUI_OIDC_GROUPS_CLAIM),
                    settings.BANGUI_OIDC_ROLE_MAP)
    users.record_sso_user(ACTOR, user, role, uid=sociallogin.account.uid)


def refuse(request: HttpRequest, username: str, reason: str) -> HttpResponse:
    """The answer to a refused SSO login, with its audit row and auth log line."""
    audit.record("anonymous", "login", target=f"user:{username[:100]}", result=audit.FAILED,
                 detail=f"single sign-on refused: {reason}", request=request)
    log_refused_sso(username, client_ip(request))
    return render(request, "accounts/sso_refused.html",
                  {"reason": reason, "provider": settings.BANGUI_OIDC_NAME}, status=403)


def refuse_login(request: HttpRequest, sociallogin, reason: str) -> HttpResponse:
    return refuse(request, _username(sociallogin), reason)


def record_error(request: HttpRequest, error: str | None, exception) -> None:
    """The provider said no, or the answer did not check out (state, token)."""
    detail = f"single sign-on failed: {error or 'unknown error'}"
    if exception is not None:
        detail += f" ({type(exception).__name__}: {exception})"
    audit.record("anonymous", "login", target="sso", result=audit.FAILED, detail=detail[:500],
                 request=request)
