"""The config editor, the regex tester and fail2ban's server settings.

Reading is for every logged-in user; saving is a POST by an operator to its
own URL, audited, and always goes through :func:`jails.config.files.apply`.
The file editor is one for every node (this host's at /config/file/, node
NAME's at /nodes/NAME/config/file/): it reads and saves through the
dispatch (jails/fleet/config.py), which audits each save.
The regex tester is a POST (it runs a process and carries pasted text) that
changes nothing, so any logged-in user may use it on pasted lines; testing
against a log file on the host shows that file's lines, so it is for users
who may edit the config (``can_edit_config``; docs/security.md, "What a
viewer can see").
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit
from accounts.models import AuditEntry
from accounts.roles import can_edit_config, config_editor, operate
from bangui.htmx import render_page
from bangui.views import form_errors
from jails.config import files as config_files
from jails.config import history
from jails.config import jail as jail_config
from jails.config import regex as regex_tester
from jails.fail2ban import Fail2banError
from jails.fail2ban.results import ServerSettings
from jails.fleet import config as node_config
from jails.fleet import dispatch
from jails.forms.config import FileEditForm, FilterForm, RegexForm, ServerSettingsForm
from jails.live import link
from jails.views.results import Result, command, refused, ticket_of, waiting
from nodes import fleet as fleet_nodes
from nodes.models import Node

# Audit actions of every editor that goes through config_files.apply.
CONFIG_ACTIONS = ("config.save", "config.restore", "config.filter_create", "config.provision",
                  "config.jail", "jail.enable", "jail.disable", "settings.fail2ban")


def last_rollback(node: str | None = None) -> AuditEntry | None:
    """The latest config change on ``node`` (default this host's), if it
    was rolled back: its banner stays on that node's config page until the
    next change there succeeds (derived from the audit trail, so every
    worker shows the same)."""
    node = node or settings.BANGUI_NODE
    nodes = ("", node) if node == settings.BANGUI_NODE else (node,)  # "": before the fleet
    latest = (AuditEntry.objects.filter(action__in=CONFIG_ACTIONS, node__in=nodes)
              .order_by("-id").first())
    if latest and latest.result == audit.FAILED and "rolled it back" in latest.detail:
        return latest
    return None


def _home_context(query: str = "", **extra) -> dict:
    files = config_files.overview(query, jail_config.filters_in_use())
    context = {"files": files, "missing": [], "rollback": last_rollback(), "query": query,
               "filter_form": FilterForm(), "root": config_files.root(), **places(None)}
    context["missing"] = missing_bangui_jails(None)
    # Named before a reload fails on it (fail2ban 1.1.1's jail.conf sets no banaction).
    context["banaction"] = jail_config.missing_banaction()
    context.update(extra)
    return context


@login_required
@require_GET
def config_home(request: HttpRequest) -> HttpResponse:
    return render_page(request, "jails/config.html", "config-files",
                       _home_context(request.GET.get("q", "")))


# -- the file editor: one for every node, this host's included ------------------
# /config/file/ is this host's node (BANGUI_NODE), /nodes/NAME/config/file/
# node NAME's; both read and save through jails/fleet/config.py, so every
# save is the dispatch's config_save (run here for this host), audited there.
def _node(name: str | None) -> str:
    return name or settings.BANGUI_NODE


def places(name: str | None) -> dict:
    """Where the editor's links go: this host's config pages (``name``
    None) or node NAME's, which the pages name."""
    urls = {f"{page}_url": reverse(f"config_{page}") if name is None
            else reverse(f"node_config_{page}", args=[name])
            for page in ("file", "save", "preview", "history", "restore", "filter_create",
                         "provision", "server", "server_save")}
    if name is None:
        return {"node": "", "back_url": reverse("config"), "back_label": "Config files",
                **urls}
    return {"node": name, "back_url": reverse("node_config", args=[name]),
            "back_label": f"{name}'s config files", **urls}


def _editor(request: HttpRequest, name: str | None, current: config_files.ConfigFile,
            form: FileEditForm | None = None, status: int = 200, **extra) -> HttpResponse:
    if form is None:
        form = FileEditForm(initial={"path": current.rel, "version": current.version,
                                     "text": current.text or ""})
    latest = history.versions(current.rel, _node(name)).first()
    return render_page(request, "jails/config_file.html", "file-editor",
                       {"file": current, "form": form, "latest": latest, **places(name),
                        **extra}, status=status)


def _refused_path(request: HttpRequest, name: str | None, rel: str,
                  exc: Exception) -> HttpResponse:
    return render_page(request, "jails/config_refused.html", "refused",
                       {"reason": str(exc), "path": rel, **places(name)}, status=400)


@login_required
@require_GET
def config_file(request: HttpRequest, name: str | None = None) -> HttpResponse:
    rel = request.GET.get("path", "")
    try:
        current = node_config.read_on(_node(name), rel, request.user.get_username(),
                                      ticket=ticket_of(request, "config_read"))
    except dispatch.Pending as pending:  # another node reads it: the page asks again
        where = places(name)
        return render_page(request, "jails/config_file.html", "file-editor", {
            "file": config_files.ConfigFile(rel, None), **where,
            **waiting(request, "config_read", pending,
                      url=f"{where['file_url']}?{urlencode({'path': rel})}",
                      target="#file-editor")})
    except config_files.ConfigError as exc:  # refused, or the node did not answer
        return _refused_path(request, name, rel, exc)
    return _editor(request, name, current)


def _shown_again(request: HttpRequest, name: str | None, rel: str, form: FileEditForm,
                 result: Result) -> HttpResponse:
    """A save that did not happen: the user's text over the file as the
    node has it now, or the refused page when the path itself is refused."""
    try:
        current = node_config.read_on(_node(name), rel, request.user.get_username())
    except node_config.Refused as exc:
        return _refused_path(request, name, rel, exc)
    except config_files.ConfigError:  # the node did not answer the read either
        current = config_files.ConfigFile(rel, None)
    return _editor(request, name, current, form, 400, result=result)


@require_POST
@operate
@config_editor
def config_save(request: HttpRequest, name: str | None = None) -> HttpResponse:
    form = FileEditForm(request.POST)
    rel = request.POST.get("path", "")
    if not form.is_valid():
        return _shown_again(request, name, rel, form, refused(request, "config.save", rel, form))
    text = form.cleaned_data["text"]
    try:
        saved = node_config.save_on(_node(name), rel, text, form.cleaned_data["version"],
                                    request.user.get_username(), by=request,
                                    ticket=ticket_of(request, "config_save"))
    except dispatch.Pending as pending:
        # The user's text stays on screen (its Save disabled) while the
        # node runs the transaction; the block asks again with the form.
        return _editor(request, name, config_files.ConfigFile(rel, text), form,
                       **waiting(request, "config_save", pending, url=places(name)["save_url"],
                                 target="#file-editor", include="#file-editor form"))
    except config_files.StaleEdit as exc:
        # Keep the user's text; the hidden version moves on only when they
        # merge and save again (so a second blind save is refused too).
        return _editor(request, name, config_files.ConfigFile(rel, exc.current), form, 409,
                       result=Result(False, str(exc)), stale=exc)
    except node_config.Refused as exc:
        return _shown_again(request, name, rel, form, Result(False, str(exc)))
    except config_files.ConfigError as exc:  # NotAnswered: nothing ran
        return _editor(request, name, config_files.ConfigFile(rel, None), form, 400,
                       result=Result(False, str(exc)))
    # Saved: the file as it is now; rolled back: the user's text, to fix.
    fresh, ok = saved.file, saved.outcome.ok
    form = FileEditForm(initial={"path": rel, "version": fresh.version,
                                 "text": (fresh.text or "") if ok else text})
    return _editor(request, name, fresh, form, result=Result.of(saved.outcome))


@require_POST
@operate
@config_editor
def config_preview(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """"Show changes": the user's text against the file as the node has it
    now (a unified diff), the text kept in the editor, nothing written; the
    editor's "Save and reload" then saves it. Read through the dispatch like
    the editor's own read (another node: the page waits for its answer)."""
    form = FileEditForm(request.POST)
    rel = request.POST.get("path", "")
    if not form.is_valid():
        return _shown_again(request, name, rel, form, Result(False, form_errors(form)))
    text = form.cleaned_data["text"]
    try:
        current = node_config.read_on(_node(name), rel, request.user.get_username(),
                                      ticket=ticket_of(request, "config_read"))
    except dispatch.Pending as pending:
        return _editor(request, name, config_files.ConfigFile(rel, text), form,
                       **waiting(request, "config_read", pending,
                                 url=places(name)["preview_url"], target="#file-editor",
                                 include="#file-editor form"))
    except node_config.Refused as exc:
        return _refused_path(request, name, rel, exc)
    except config_files.ConfigError as exc:
        return _editor(request, name, config_files.ConfigFile(rel, None), form, 400,
                       result=Result(False, str(exc)))
    lines = history.diff_lines(current.text, text, f"{rel} (on disk)", f"{rel} (your edit)")
    return _editor(request, name, current, form, preview={
        "lines": lines, "moved": current.version != form.cleaned_data["version"]})


# -- config history (jails/config/history.py; docs/config.md) ----------------------
HISTORY_PAGE = 50


def _history_context(query, name: str | None, rel: str) -> dict:
    """The history page of ``rel`` on node ``name``; ``query``: its GET
    parameters (page, a, b)."""
    node = _node(name)
    rows = history.versions(rel, node)
    page = Paginator(rows, HISTORY_PAGE).get_page(query.get("page"))
    latest_applied = history.latest_applied(rel, node)
    shown = list(page.object_list)
    for row in shown:
        # "Changes": this version against the file on disk before it (the
        # newest older version that was on disk: a refused try never was).
        older = rows.filter(id__lt=row.pk, applied=True).values_list("id", flat=True)[:1]
        row.before = older[0] if older else None
    context = {"rel": rel, "page": page, "versions": shown,
               "latest_applied": latest_applied, "count": page.paginator.count,
               "writable": config_files.writable(rel), **places(name)}
    # The diff: ?a=ID&b=ID (older, newer), by default the newest against the
    # one before it.
    choices = list(rows.values_list("id", "kind", "created_at")[:500])
    context["choices"] = choices
    a, b = query.get("a"), query.get("b")
    if not (a and b) and shown and shown[0].before and page.number == 1:
        a, b = str(shown[0].before), str(shown[0].pk)
    if a and b and a.isdigit() and b.isdigit():
        old, new = history.version(rel, node, int(a)), history.version(rel, node, int(b))
        if old and new:
            context["compare"] = {"a": old, "b": new, "lines": history.diff_lines(
                old.text, new.text, f"{rel} #{old.pk}", f"{rel} #{new.pk}")}
    return context


@login_required
@require_GET
def config_history(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """Every version of one file on one node, newest first, read from the
    shared database (a node's page never asks the node); readable by every
    user who may read config files, like the editor."""
    rel = request.GET.get("path", "")
    try:
        config_files.resolve(rel) if name is None else _check_name(rel)
    except config_files.PathRefused as exc:
        return _refused_path(request, name, rel, exc)
    return render_page(request, "jails/config_history.html", "history",
                       _history_context(request.GET, name, rel))


def _check_name(rel: str) -> None:
    """A node's path, checked as far as this host can without its files:
    the same shape rules (the node checks the rest when it restores)."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or rel.startswith("/") \
            or ".." in rel.split("/") or not rel.endswith(config_files.SUFFIXES) \
            or "/".join(rel.split("/")[:-1]) not in config_files.DIRECTORIES:
        raise config_files.PathRefused(f"{rel!r} is not a config file BanGUI shows")


@require_POST
@operate
@config_editor
def config_restore(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """Write a version back through the config transaction (test, back up,
    write, reload, roll back on failure), on the node whose version it is;
    audited as ``config.restore`` by the dispatch."""
    rel = request.POST.get("path", "")
    raw = request.POST.get("version", "")
    node = _node(name)
    if not raw.isdigit() or history.version(rel, node, int(raw)) is None:
        return render_page(request, "jails/config_history.html", "history", {
            **_history_context({}, name, rel),
            "result": Result(False, f"{rel} has no version {raw[:20]!r} on {node}.")},
            status=400)
    latest = history.latest_applied(rel, node)
    expected = request.POST.get("expected") or (latest.sha256 if latest else
                                                config_files.ABSENT)
    try:
        saved = node_config.restore_on(node, rel, int(raw), expected,
                                       request.user.get_username(), by=request,
                                       ticket=ticket_of(request, "config_restore"))
    except dispatch.Pending as pending:
        return render_page(request, "jails/config_history.html", "history", {
            **_history_context({}, name, rel),
            **waiting(request, "config_restore", pending, url=places(name)["restore_url"],
                      target="#history", include=f"#restore-{raw}")})
    except config_files.StaleEdit:
        result = Result(False, f"{rel} was changed since its latest version here (outside "
                               "BanGUI, or by another save). Nothing was restored. Open it "
                               "in the editor (that records the change as a version) and "
                               "restore again.")
        status = 409
    except config_files.ConfigError as exc:
        result, status = Result(False, str(exc)), 400
    else:
        result, status = Result.of(saved.outcome), 200
        if saved.outcome.ok:
            row = history.version(rel, node, int(raw))
            result = Result(True, f"Restored version #{raw} of {rel}"
                                  f"{'' if row is None else ' (' + row.get_kind_display() + ')'}"
                                  f". {saved.outcome.message}")
    return render_page(request, "jails/config_history.html", "history",
                       {**_history_context({}, name, rel), "result": result},
                       status=status)


@require_POST
@operate
@config_editor
def filter_create(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """A new filter.d/NAME.local on this host's node or node ``name``."""
    form = FilterForm(request.POST)
    if not form.is_valid():
        refused(request, "config.filter_create", request.POST.get("name", "")[:64], form)
        return _filter_answer(request, name, form, None)
    result = command(request, [_node(name)], "filter_create",
                     {"name": form.cleaned_data["name"], "text": form.text()})
    return _filter_answer(request, name, FilterForm() if result.ok else form, result)


def _filter_answer(request: HttpRequest, name: str | None, form: FilterForm,
                   result: Result | None) -> HttpResponse:
    return render_page(request, "jails/config.html", "filter-create",
                       {**places(name), "filter_form": form, "filter_result": result},
                       status=200 if result is None or result.ok else 400)


def missing_bangui_jails(name: str | None) -> list:
    """BanGUI's own jails the node's config lacks: this host's from its
    files, another node's from the jails it published."""
    if name is None or name == settings.BANGUI_NODE:
        with contextlib.suppress(config_files.ConfigError):
            return jail_config.missing_bangui_jails()
        return []
    configured = Node.objects.filter(pk=name).values_list("configured_jails", flat=True).first()
    if not configured:  # not published yet: nothing to offer
        return []
    return [j for j in jail_config.BANGUI_JAILS if j.name not in configured]


@require_POST
@operate
def provision(request: HttpRequest, name: str | None = None) -> HttpResponse:
    result = command(request, [_node(name)], "provision", {})
    return render_page(request, "jails/config.html", "provision",
                       {**places(name), "result": result,
                        "missing": [] if result.ok else missing_bangui_jails(name)})


@login_required
@require_http_methods(["GET", "POST"])
def regex(request: HttpRequest) -> HttpResponse:
    filters, others = regex_tester.filter_names(), _other_nodes()
    if others:  # a node's filters too: the node checks the name again
        filters = sorted({*filters, *(f for n in fleet_nodes.fleet() for f in n.filters)})
    result = error = None
    busy = False
    node = ""
    wait: dict = {}
    may_read_logs = can_edit_config(request.user)
    if request.method == "POST":
        form = RegexForm(request.POST, filters=filters, nodes=others,
                         may_read_logs=may_read_logs)
        if form.is_valid():
            data = form.cleaned_data
            node = data.get("node") or ""
            test = {k: data.get(k) or "" for k in ("lines", "log_path", "journal",
                                                   "filter_name", "failregex", "ignoreregex",
                                                   "datepattern")}
            if not may_read_logs:  # the form refused them; never send them either
                test["log_path"] = test["journal"] = ""
            user = request.user.get_username()
            try:
                result = dispatch.regex_on(node or settings.BANGUI_NODE, test, user,
                                           ticket=ticket_of(request, "regex"))
            except dispatch.Pending as pending:  # another node runs it: ask again
                wait = waiting(request, "regex", pending, url=reverse("config_regex"),
                               target="#regex-result", include=".regex-form")
            except regex_tester.TesterError as exc:
                error = str(exc)
                busy = isinstance(exc, regex_tester.Busy)
    else:
        form = RegexForm(filters=filters, nodes=others, may_read_logs=may_read_logs,
                         initial={"filter_name": request.GET.get("filter", "")})
    return render_page(request, "jails/regex.html", "regex-result",
                       {"form": form, "result": result, "error": error, "node": node, **wait},
                       status=429 if busy else
                       400 if error or (request.method == "POST" and form.errors) else 200)


def _other_nodes() -> list[str] | None:
    """The fleet's other nodes, or None on a single host."""
    names, multi_node = fleet_nodes.scope_choices()
    return [n for n in names if n != settings.BANGUI_NODE] if multi_node else None


def _server_context(name: str | None, form: ServerSettingsForm | None = None, **extra) -> dict:
    """fail2ban's server settings: this host's read from its socket, another
    node's as its worker published them."""
    current = error = None
    if name is None or name == settings.BANGUI_NODE:
        try:
            current = link.client(connect_retries=0).server_settings()
        except Fail2banError as exc:
            error = str(exc)
    else:
        row = Node.objects.filter(pk=name).first()
        published = row.server_settings if row else None
        if published:
            current = ServerSettings(**published)
        else:
            error = f"{name} has not published its server settings (is its worker running?)"
    if form is None and current is not None:
        target = current.logtarget
        special = target.upper() in ("STDOUT", "STDERR", "SYSLOG")
        form = ServerSettingsForm(initial={
            "loglevel": current.loglevel.upper(), "dbpurgeage": current.dbpurgeage,
            "logtarget": target.upper() if special else "FILE",
            "logfile": "" if special else target})
    return {**places(name), "current": current, "error": error,
            "form": form or ServerSettingsForm(), **extra}


@login_required
@require_GET
def server(request: HttpRequest, name: str | None = None) -> HttpResponse:
    return render_page(request, "jails/config_server.html", "server-settings",
                       _server_context(name))


@require_POST
@operate
@config_editor
def server_save(request: HttpRequest, name: str | None = None) -> HttpResponse:
    form = ServerSettingsForm(request.POST)
    if not form.is_valid():
        return _server_answer(request, name, form,
                              refused(request, "settings.fail2ban", "", form), status=400)
    data = form.cleaned_data
    result = command(request, [_node(name)], "server_settings", {"values": {
        "loglevel": data["loglevel"], "logtarget": data["target"],
        "dbpurgeage": str(data["dbpurgeage"])}})
    return _server_answer(request, name, form if not result.ok else None, result)


def _server_answer(request: HttpRequest, name: str | None, form: ServerSettingsForm | None,
                   result: Result, status: int = 200) -> HttpResponse:
    return render_page(request, "jails/config_server.html", "server-settings",
                       _server_context(name, form, result=result), status=status)
