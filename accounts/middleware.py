from __future__ import annotations

from django.shortcuts import redirect
from django.utils import timezone

from accounts.models import RuntimeSettings
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
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
