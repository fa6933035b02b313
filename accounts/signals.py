"""Login events: audit rows, the fail2ban auth log line, session lifetime.

Connected from the signals, not from our login view, so Django admin's login
page is covered too.
"""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts import audit
from accounts.authlog import log_failed_login
from accounts.mfa import login_detail
from accounts.models import RuntimeSettings
from bangui.clientip import client_ip


@receiver(user_logged_in, dispatch_uid="bangui_logged_in")
def on_logged_in(sender, request, user, **kwargs):
    if request is None:
        return
    # The lifetime is read at each login, so a settings change applies to
    # every new session at once, on every worker.
    request.session.set_expiry(int(RuntimeSettings.load().session_age.total_seconds()))
    audit.record(user, "login", target=f"user:{user.get_username()}", request=request,
                 detail=login_detail(request, user))


@receiver(user_logged_out, dispatch_uid="bangui_logged_out")
def on_logged_out(sender, request, user, **kwargs):
    if user is None:
        return
    audit.record(user, "logout", target=f"user:{user.get_username()}", request=request)


@receiver(user_login_failed, dispatch_uid="bangui_login_failed")
def on_login_failed(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username", "")
    # accounts.mfa sends this signal for a wrong two-factor code, with its reason.
    reason = (credentials or {}).get("bangui_reason", "wrong username or password")
    ip = client_ip(request) if request is not None else None
    log_failed_login(username, ip)
    locked = bool(getattr(request, "axes_locked_out", False))
    audit.record(
        "anonymous", "login", target=f"user:{str(username)[:100]}", result=audit.FAILED,
        detail="refused: locked out" if locked else reason,
        request=request,
    )


@receiver(user_locked_out, dispatch_uid="bangui_locked_out")
def on_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    audit.record(
        "anonymous", "lockout", target=f"user:{str(username or '')[:100]}",
        result=audit.FAILED, detail=f"too many failed logins from {ip_address}",
        request=request,
    )
