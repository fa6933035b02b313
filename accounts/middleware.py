from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils import timezone

from accounts import mfa
from accounts.models import RuntimeSettings, request_runtime
from accounts.roles import role_of
from accounts.setup import gate

# Reachable before setup: files and probes that must work on a fresh install.
_OPEN_PREFIXES = ("/static/", "/health/")


class SetupRequiredMiddleware:
    """Until setup is complete every view redirects to the wizard.

    Runs before LoginRequiredMiddleware (both act in process_view), so a
    fresh install shows the wizard rather than a login nobody can pass.
    Costs no query once setup is done (see ``SetupGate``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "setup_required", True):
            return None
        if request.path_info.startswith(_OPEN_PREFIXES):
            return None
        if gate().is_complete():
            return None
        return redirect("setup")


class MfaRequiredMiddleware:
    """Local users whose role is in ``BANGUI_MFA_REQUIRED_ROLES`` reach no
    page but the two-factor ones (and logout) until they have TOTP: every
    other view redirects to the enrolment page. Single sign-on sessions are
    left to the IdP's own second factor. Off (no query) when the setting is
    empty."""

    # What an unenrolled user needs to enrol (allauth.mfa's and the
    # reauthentication it may ask first) or to leave.
    OPEN_VIEWS = frozenset({
        "mfa_index", "mfa_activate_totp", "mfa_reauthenticate", "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes", "mfa_download_recovery_codes", "account_reauthenticate",
        "logout", "login",
    })

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        required = settings.BANGUI_MFA_REQUIRED_ROLES
        user = request.user
        if not required or not user.is_authenticated:
            return None
        if request.path_info.startswith(_OPEN_PREFIXES):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in self.OPEN_VIEWS:
            return None
        if role_of(user) not in required or mfa.signed_in_by_sso(request, user):
            return None
        if mfa.totp_enabled(user):
            return None
        messages.warning(request, "Your role needs two-factor authentication: set up an "
                                  "authenticator app to continue.")
        return redirect("mfa_activate_totp")


class TimezoneMiddleware:
    """Show times in the configured zone. Reads the runtime settings row once
    per request (one primary-key lookup), which is how a settings change
    reaches every worker without a restart; ``request.runtime_settings``
    keeps it for the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/health/"):
            return self.get_response(request)  # probes: no database read
        runtime = RuntimeSettings.load()
        request.runtime_settings = runtime
        timezone.activate(runtime.zone)
        token = request_runtime.set(runtime)
        try:
            return self.get_response(request)
        finally:
            request_runtime.reset(token)
            timezone.deactivate()
