"""A fleet node's config files (/nodes/NAME/config/): the list, as the node's
worker reads it (jails/fleet/config.py). The page never waits on the node:
until it answers, a waiting block asks again every second. Its files open
in the one editor, and its filter creation, BanGUI's jails and server
settings are the config pages' own (jails/views/config.py, with the node as
parameter)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from bangui.htmx import render_page
from jails.config import files as config_files
from jails.fleet import config as node_config
from jails.fleet import dispatch
from jails.forms.config import FilterForm
from jails.views.config import last_rollback, missing_bangui_jails, places
from jails.views.results import ticket_of, waiting


@login_required
@require_GET
def node_config_home(request: HttpRequest, name: str) -> HttpResponse:
    context = {**places(name), "listing": {}, "error": "", "rollback": last_rollback(name),
               "missing": missing_bangui_jails(name), "filter_form": FilterForm()}
    try:
        context["listing"] = node_config.listing_on(name, request.user.get_username(),
                                                    ticket=ticket_of(request, "config_list"))
    except dispatch.Pending as pending:
        context.update(waiting(request, "config_list", pending,
                               url=reverse("node_config", args=[name]),
                               target="#node-config-listing"))
    except config_files.ConfigError as exc:
        context["error"] = str(exc)
    return render_page(request, "jails/node_config.html", "listing", context,
                       status=503 if context["error"] else 200)
