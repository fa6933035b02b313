"""A fleet node's config files (/nodes/NAME/config/...): the same list and
editor as this host's, read and saved by the node's worker
(jails/fleet/config.py). Saving runs the node's own config transaction;
each answer waits at most ``BANGUI_COMMAND_WAIT_SECONDS``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import audit
from accounts.roles import config_editor, operate
from bangui.htmx import render_page
from jails.config import files as config_files
from jails.fleet import config as node_config
from jails.forms.config import FileEditForm
from jails.views.config import editor_context
from jails.views.results import Result, refused


def _links(name: str) -> dict:
    return {"node": name, "save_url": reverse("node_config_save", args=[name]),
            "back_url": reverse("node_config", args=[name]),
            "back_label": f"{name}'s config files",
            "file_url": reverse("node_config_file", args=[name])}


@login_required
@require_GET
def node_config_home(request: HttpRequest, name: str) -> HttpResponse:
    try:
        listing, error = node_config.listing_on(name, request.user.get_username()), ""
    except config_files.ConfigError as exc:
        listing, error = {}, str(exc)
    return render(request, "jails/node_config.html", {"node": name, "listing": listing,
                                                      "error": error},
                  status=503 if error else 200)


def _refused(request: HttpRequest, name: str, rel: str, exc: Exception) -> HttpResponse:
    return render_page(request, "jails/config_refused.html", "refused",
                       {"reason": str(exc), "path": rel, "back_url":
                        reverse("node_config", args=[name])}, status=400)


@login_required
@require_GET
def node_config_file(request: HttpRequest, name: str) -> HttpResponse:
    rel = request.GET.get("path", "")
    try:
        current = node_config.read_on(name, rel, request.user.get_username())
    except config_files.ConfigError as exc:
        return _refused(request, name, rel, exc)
    return render_page(request, "jails/config_file.html", "file-editor",
                       editor_context(current, **_links(name)))


@require_POST
@operate
@config_editor
def node_config_save(request: HttpRequest, name: str) -> HttpResponse:
    form = FileEditForm(request.POST)
    rel, user = request.POST.get("path", "")[:300], request.user.get_username()

    def editor(current, form, result, status=200, **extra):
        return render_page(request, "jails/config_file.html", "file-editor",
                           editor_context(current, form, result=result, **_links(name),
                                          **extra), status=status)

    if not form.is_valid():
        result = refused(request, "config.save", rel, form)
        return editor(config_files.ConfigFile(rel, None), form, result, 400)
    text = form.cleaned_data["text"]
    try:
        saved = node_config.save_on(name, rel, text, form.cleaned_data["version"], user)
    except config_files.StaleEdit as exc:
        audit.record(request, "config.save", target=rel, result=audit.FAILED, detail=str(exc),
                     node=name)
        return editor(config_files.ConfigFile(rel, exc.current), form, Result(False, str(exc)),
                      409, stale=exc)
    except config_files.ConfigError as exc:
        audit.record(request, "config.save", target=rel, result=audit.FAILED, detail=str(exc),
                     node=name)
        return editor(config_files.ConfigFile(rel, None), form, Result(False, str(exc)), 400)
    outcome = saved.outcome
    audit.record(request, "config.save", target=rel,
                 result=audit.OK if outcome.ok else audit.FAILED, detail=outcome.message,
                 node=name)
    fresh = saved.file
    return editor(fresh, FileEditForm(initial={
        "path": rel, "version": fresh.version,
        "text": (fresh.text or "") if outcome.ok else text}), Result.of(outcome))
