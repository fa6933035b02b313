"""What every BanGUI view shares: the before-setup marker, one line of a
form's errors."""

from __future__ import annotations

from django import forms


def form_errors(form: forms.Form) -> str:
    """A form's errors as one sentence for a result message or the audit
    trail (``"; "`` between them)."""
    return "; ".join(e for errs in form.errors.values() for e in errs)


def setup_not_required(view_func):
    """Mark a view reachable before setup is complete (read by
    accounts.middleware.SetupRequiredMiddleware: health probes, the wizard)."""
    view_func.setup_required = False
    return view_func
