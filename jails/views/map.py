from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from bangui.htmx import render_page, wants_fragment
from geo.countries import country_name
from jails.archive.map_data import world_map
from jails.archive.queries import ban_table
from jails.constants import UNKNOWN_COUNTRY, Window
from jails.forms.map import MapFilterForm
from nodes.fleet import scope_choices

DEFAULT_WINDOW = Window.DAY
BANS_PER_PAGE = 50


def _filters(request: HttpRequest) -> tuple[dict, list[str]]:
    """The valid filters of the query string, and a message per bad one."""
    form = MapFilterForm(request.GET)
    form.is_valid()
    notices = []
    for field, errors in form.errors.items():
        label = field if field != "__all__" else "filters"
        text = errors[0] if field == "country" else f"Ignored an invalid {label}: {errors[0]}"
        notices.append(text)
    data = {name: form.cleaned_data.get(name) for name in form.fields}
    return {
        "window": data["window"] or DEFAULT_WINDOW,
        "origin": data["origin"] or "",
        "country": data["country"] or "",
        "page": data["page"] or 1,
        "node": data["node"] or "",
    }, notices


def _context(filters: dict) -> dict:
    """Filters, the country's ban table (when one is chosen) and the links."""
    country = filters["country"]
    table = None
    if country:
        table = ban_table(filters["window"], country=country, origin=filters["origin"] or None,
                          page=filters["page"], per_page=BANS_PER_PAGE,
                          node=filters["node"] or None)
    node_names, multi_node = scope_choices(filters["node"])
    return {
        "filters": filters,
        "form": MapFilterForm(initial=filters),
        "windows": Window.choices,
        "window_label": Window(filters["window"]).label,
        "country_label": ("unresolved addresses" if country == UNKNOWN_COUNTRY
                          else country_name(country) or country),
        "table": table,
        "node_names": node_names, "multi_node": multi_node,
        # window, origin and node for the links that add a country or a page
        "query": urlencode({k: filters[k] for k in ("window", "origin", "node") if filters[k]}),
    }


@require_GET
def world_map_page(request: HttpRequest) -> HttpResponse:
    """The map, its legend and side table, and the bans of one country.

    One URL: HTMX requests aimed at ``#map-bans`` (a country clicked, a page
    of its bans) get that table only; other HTMX requests (the filters) get
    ``#map-view``; everything else the whole page. Reads only.
    """
    filters, notices = _filters(request)
    fragment = "map-bans" if request.htmx and request.htmx.target == "map-bans" else "map-view"
    context = {**_context(filters), "notices": notices,
               "oob": fragment == "map-bans" and wants_fragment(request)}
    if fragment == "map-view" or not wants_fragment(request):
        context["map"] = world_map(filters["window"], filters["origin"] or None,
                                   node=filters["node"] or None)
    return render_page(request, "jails/map.html", fragment, context)
