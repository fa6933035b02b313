"""One helper decides between a full page and its HTMX fragment."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def wants_fragment(request: HttpRequest) -> bool:
    """True for HTMX requests that swap a fragment. A history-restore request
    (back button after the cache was evicted) and a boosted link or form (it
    swaps the whole body, also after following a redirect) need the whole
    page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def render_page(
    request: HttpRequest, template: str, fragment: str, context: dict, status: int = 200
) -> HttpResponse:
    """Render ``template`` whole, or only its ``{% partialdef fragment %}``."""
    name = f"{template}#{fragment}" if wants_fragment(request) else template
    return render(request, name, context, status=status)
