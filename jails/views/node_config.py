"""A fleet node's config files (/nodes/NAME/config/): the list, as the node's
worker reads it (jails/fleet/config.py); each answer waits at most
``BANGUI_COMMAND_WAIT_SECONDS``. Its files open in the one editor
(jails/views/config.py ``config_file``, with the node as parameter)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jails.config import files as config_files
from jails.fleet import config as node_config
from jails.views.config import last_rollback, places


@login_required
@require_GET
def node_config_home(request: HttpRequest, name: str) -> HttpResponse:
    try:
        listing, error = node_config.listing_on(name, request.user.get_username()), ""
    except config_files.ConfigError as exc:
        listing, error = {}, str(exc)
    return render(request, "jails/node_config.html",
                  {**places(name), "listing": listing, "error": error,
                   "rollback": last_rollback(name)}, status=503 if error else 200)
