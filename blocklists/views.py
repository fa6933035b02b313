"""Blocklist sources: list, create/edit/delete, enable/disable, preview,
import now (queued to the worker), and the import log; ``blocklists/urls.py``
wires them."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit
from accounts.roles import operate
from bangui.htmx import render_page
from blocklists import schedules
from blocklists.download import DownloadError
from blocklists.forms import PreviewForm, SourceForm
from blocklists.importer import preview
from blocklists.models import BlocklistSource, ImportRun
from blocklists.parse import GarbageList
from jails.config.jail import BANGUI_JAILS
from nodes.fleet import fleet, scope_choices


def _sources() -> list[BlocklistSource]:
    """Each source with its last run and the target nodes that do not run
    its jail (``jail_missing_on``: said on the row, before an import fails)."""
    last = ImportRun.objects.filter(source=OuterRef("pk")).exclude(
        status=ImportRun.Status.PREVIEW).order_by("-started_at", "-id")
    sources = list(BlocklistSource.objects.annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_started=Subquery(last.values("started_at")[:1]),
        last_new=Subquery(last.values("newly_banned")[:1]),
        last_error=Subquery(last.values("error")[:1]),
    ))
    states = fleet()
    for source in sources:
        source.jail_missing_on = schedules.jail_missing_on(source, states)
        source.own_jail = source.jail in {j.name for j in BANGUI_JAILS}
    return sources


def _log_context() -> dict:
    runs = list(ImportRun.objects.select_related("source")[:50])
    return {"runs": runs, "running": any(r.status == ImportRun.Status.RUNNING for r in runs),
            "multi_node": scope_choices()[1]}


@require_GET
def blocklist_list(request: HttpRequest) -> HttpResponse:
    context = {"sources": _sources(), **_log_context()}
    return render_page(request, "blocklists/blocklists.html", "import-log", context)


@require_GET
def blocklist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(BlocklistSource, pk=pk)
    return render(request, "blocklists/blocklist_detail.html", {
        "source": source, "runs": source.runs.all()[:100],
        "multi_node": scope_choices()[1], "targets": schedules.targets(source)})


@require_http_methods(["GET", "POST"])
@operate
def blocklist_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    source = get_object_or_404(BlocklistSource, pk=pk) if pk else None
    if request.method == "POST":
        form = SourceForm(request.POST, instance=source)
        if form.is_valid():
            saved = form.save()  # its nodes see it at their next minute's look
            audit.record(request, "blocklist.create" if source is None else "blocklist.edit",
                         target=saved.name, detail=saved.url)
            messages.success(request, f"Saved blocklist {saved.name}.")
            return redirect("blocklist_list")
    else:
        demo = settings.DEMO_BLOCKLIST_URL if source is None else ""
        form = SourceForm(instance=source, initial={"name": "demo sample list", "url": demo}
                          if demo else None)
    return render(request, "blocklists/blocklist_form.html", {
        "form": form, "source": source, "demo_url": settings.DEMO_BLOCKLIST_URL})


@require_POST
@operate
def blocklist_delete(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(BlocklistSource, pk=pk)
    name = source.name
    source.delete()
    audit.record(request, "blocklist.delete", target=name)
    messages.success(request, f"Deleted blocklist {name}. Bans it made stay until they expire.")
    return redirect("blocklist_list")


@require_POST
@operate
def blocklist_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(BlocklistSource, pk=pk)
    source.enabled = not source.enabled
    source.save(update_fields=["enabled", "updated_at"])
    state = "enabled" if source.enabled else "disabled"
    audit.record(request, f"blocklist.{state[:-1]}", target=source.name)
    messages.success(request, f"{source.name} {state}.")
    return redirect("blocklist_list")


@require_POST
@operate
def blocklist_import(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(BlocklistSource, pk=pk)
    # The download and the bans run in each target node's worker, never in
    # a web request; the log shows each node's run.
    nodes = schedules.import_now(source, request.user.get_username(), by=request)
    where = "" if nodes == [settings.BANGUI_NODE] else f" on {', '.join(nodes)}"
    messages.success(request, f"Import of {source.name} queued{where}; the log below updates.")
    return redirect("blocklist_list")


@require_POST
@operate
def blocklist_preview(request: HttpRequest) -> HttpResponse:
    """Download and parse a URL without banning anything."""
    form = PreviewForm(request.POST)
    context: dict = {"form": form}
    if form.is_valid():
        try:
            parsed, size = preview(form.cleaned_data["url"])
            context.update(parsed=parsed, size=size, sample=parsed.ips[:20])
        except (DownloadError, GarbageList) as exc:
            context["error"] = str(exc)
    return render(request, "blocklists/partials/blocklist_preview.html", context)
