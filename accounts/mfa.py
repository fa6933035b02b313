"""Two-factor (TOTP and recovery codes) through allauth.mfa (docs/sso.md).

allauth keeps the authenticators and runs the code step of a login; this
module ties it into BanGUI's throttling and trail:

- a wrong code is a failed login: Django's ``user_login_failed`` is sent, so
  django-axes counts it against the user and address (the same lockout as
  a wrong password), and ``accounts.signals`` writes the audit row and the
  auth log line fail2ban reads;
- a locked-out user or address gets no more tries at the code either
  (:class:`AuthenticateForm`), so a stolen password does not open an
  unthrottled guessing game;
- enrolment, removal, regenerated and used recovery codes are audited.
"""

from __future__ import annotations

from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context as allauth_context
from allauth.mfa import signals as mfa_signals
from allauth.mfa.base.forms import AuthenticateForm as AllauthAuthenticateForm
from allauth.mfa.base.forms import ReauthenticateForm as AllauthReauthenticateForm
from allauth.mfa.models import Authenticator
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from accounts import audit

WRONG_CODE = "wrong two-factor code"
_KIND = {Authenticator.Type.TOTP: "TOTP", Authenticator.Type.RECOVERY_CODES: "recovery codes"}


def totp_enabled(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def methods(request, user) -> list[str]:
    """How this session's user proved who they are: "password", "mfa",
    "socialaccount" (allauth's records, kept in the session)."""
    return [r.get("method", "") for r in get_authentication_records(request, user)]


def signed_in_by_sso(request, user) -> bool:
    return "socialaccount" in methods(request, user)


def login_detail(request, user) -> str:
    """The audit detail of a login: how it was done."""
    records = get_authentication_records(request, user)
    parts = []
    for record in records:
        method = record.get("method")
        if method == "socialaccount":
            parts.append("single sign-on")
        elif method == "mfa":
            kind = record.get("type")
            parts.append("recovery code" if kind == Authenticator.Type.RECOVERY_CODES
                         else "TOTP")
        elif method:
            parts.append(str(method))
    return " + ".join(parts)


def enrolled(users) -> set[int]:
    """The ids among ``users`` (a queryset or ids) with TOTP on: one query."""
    return set(Authenticator.objects.filter(user__in=users, type=Authenticator.Type.TOTP)
               .values_list("user_id", flat=True))


def reset(actor, user, request=None) -> bool:
    """Remove ``user``'s TOTP and recovery codes (a lost phone: an admin's
    page or ``manage.py users reset-2fa``); they sign in with the password
    alone, and enrol again (or must, under BANGUI_MFA_REQUIRED_ROLES).
    False when they had none. Audited as ``mfa.reset`` by ``actor``."""
    removed, _ = Authenticator.objects.filter(user=user).delete()
    if not removed:
        return False
    audit.record(actor, "mfa.reset", target=f"user:{user.get_username()}",
                 detail="TOTP and recovery codes removed by an admin", request=request)
    return True


def _locked(request, user) -> bool:
    return AxesProxyHandler.is_locked(request, credentials={"username": user.get_username()})


class _AxesChecked:
    """Refuses a code while django-axes has the user or address locked out
    (the axes middleware then answers with the lockout page)."""

    def clean_code(self) -> str:
        request = self._request()
        if request is not None and _locked(request, self.user):
            request.axes_locked_out = True
            raise forms.ValidationError("Too many failed logins: try again later.")
        return super().clean_code()

    @staticmethod
    def _request():
        return getattr(allauth_context, "request", None)


class AuthenticateForm(_AxesChecked, AllauthAuthenticateForm):
    """The code step of a login (MFA_FORMS["authenticate"])."""


class ReauthenticateForm(_AxesChecked, AllauthReauthenticateForm):
    """Confirming a code before a sensitive change (MFA_FORMS["reauthenticate"])."""


@receiver(mfa_signals.authentication_failed, dispatch_uid="bangui_mfa_failed")
def on_code_failed(sender, request, user, authenticator=None, **kwargs):
    # One signal, so axes, the audit trail and the auth log agree
    # (accounts.signals.on_login_failed reads the reason).
    user_login_failed.send(sender=__name__, request=request,
                           credentials={"username": user.get_username(),
                                        "bangui_reason": WRONG_CODE})


@receiver(mfa_signals.authenticator_added, dispatch_uid="bangui_mfa_added")
def on_added(sender, request, user, authenticator, **kwargs):
    audit.record(user, "mfa.enrol", target=f"user:{user.get_username()}",
                 detail=_KIND.get(authenticator.type, authenticator.type), request=request)


@receiver(mfa_signals.authenticator_removed, dispatch_uid="bangui_mfa_removed")
def on_removed(sender, request, user, authenticator, **kwargs):
    audit.record(user, "mfa.remove", target=f"user:{user.get_username()}",
                 detail=_KIND.get(authenticator.type, authenticator.type), request=request)


@receiver(mfa_signals.authenticator_reset, dispatch_uid="bangui_mfa_reset")
def on_reset(sender, request, user, authenticator, **kwargs):
    audit.record(user, "mfa.recovery_codes", target=f"user:{user.get_username()}",
                 detail="new recovery codes; the old ones no longer work", request=request)


@receiver(mfa_signals.authenticator_used, dispatch_uid="bangui_mfa_used")
def on_used(sender, request, user, authenticator, **kwargs):
    if authenticator.type != Authenticator.Type.RECOVERY_CODES:
        return
    left = len(authenticator.wrap().get_unused_codes())
    audit.record(user, "mfa.recovery_code_used", target=f"user:{user.get_username()}",
                 detail=f"{left} recovery code{'s' if left != 1 else ''} left", request=request)
