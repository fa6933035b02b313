"""What every BanGUI view shares (the before-setup marker, one line of a
form's errors), the error page of an exception no view answered, and
/favicon.ico."""

from __future__ import annotations

import sys

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.template import loader
from django.templatetags.static import static
from django.views.decorators.http import require_safe

from bangui.dbretry import is_transient


def form_errors(form: forms.Form) -> str:
    """A form's errors as one sentence for a result message or the audit
    trail (``"; "`` between them)."""
    return "; ".join(e for errs in form.errors.values() for e in errs)


def setup_not_required(view_func):
    """Mark a view reachable before setup is complete (read by
    accounts.middleware.SetupRequiredMiddleware: health probes, the wizard)."""
    view_func.setup_required = False
    return view_func


@setup_not_required
@login_not_required
@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and feed readers ask for /favicon.ico whatever the page's
    <link rel="icon"> says: send them to the one icon (it was a 404)."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: any exception no view answered. One that a later try
    may not meet (the database locked past its busy timeout, PostgreSQL
    restarting: bangui.dbretry.is_transient) is a 503 with Retry-After and
    words that say so, not a "server error"; anything else is the 500 page.
    One page for both (500.html: no database, no request context)."""
    exc = sys.exc_info()[1]
    busy = exc is not None and is_transient(exc)
    html = loader.get_template("500.html").render({"busy": busy})
    response = HttpResponse(html, status=503 if busy else 500)
    if busy:
        response["Retry-After"] = "5"
    return response
