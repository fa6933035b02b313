"""The config editor, the regex tester and fail2ban's server settings.

Reading is for every logged-in user; saving is a POST by an operator to its
own URL, audited, and always goes through :func:`jails.config.files.apply`.
The regex tester is a POST (it runs a process and carries pasted text) that
changes nothing, so any logged-in user may use it.
"""

from __future__ import annotations

import contextlib

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit
from accounts.models import AuditEntry
from accounts.roles import config_editor
from bangui.htmx import render_page
from jails.config import files as config_files
from jails.config import jail as jail_config
from jails.config import regex as regex_tester
from jails.fail2ban import Fail2banError
from jails.forms.config import FileEditForm, FilterForm, RegexForm, ServerSettingsForm
from jails.live import link

operate = permission_required("accounts.operate", raise_exception=True)


# Audit actions of every editor that goes through config_files.apply.
CONFIG_ACTIONS = ("config.save", "config.filter_create", "config.provision", "config.jail",
                  "jail.enable", "jail.disable", "settings.fail2ban")


def last_rollback() -> AuditEntry | None:
    """The latest config change, if it was rolled back: its banner stays on
    /config/ until the next change succeeds (derived from the audit trail,
    so every worker shows the same)."""
    latest = AuditEntry.objects.filter(action__in=CONFIG_ACTIONS).order_by("-id").first()
    if latest and latest.result == audit.FAILED and "rolled it back" in latest.detail:
        return latest
    return None


def _home_context(query: str = "", **extra) -> dict:
    files = config_files.overview(query, jail_config.filters_in_use())
    context = {"files": files, "missing": [], "rollback": last_rollback(), "query": query,
               "filter_form": FilterForm(), "root": config_files.root()}
    with contextlib.suppress(config_files.ConfigError):
        context["missing"] = jail_config.missing_bangui_jails()
    context.update(extra)
    return context


@login_required
@require_GET
def config_home(request: HttpRequest) -> HttpResponse:
    return render_page(request, "jails/config.html", "config-files",
                       _home_context(request.GET.get("q", "")))


def _file_context(rel: str, form: FileEditForm | None = None, **extra) -> dict:
    current = config_files.read(rel)
    if form is None:
        form = FileEditForm(initial={"path": rel, "version": current.version,
                                     "text": current.text or ""})
    return {"file": current, "form": form, **extra}


@login_required
@require_GET
def config_file(request: HttpRequest) -> HttpResponse:
    rel = request.GET.get("path", "")
    try:
        context = _file_context(rel)
    except config_files.PathRefused as exc:
        return render_page(request, "jails/config_refused.html", "refused",
                           {"reason": str(exc), "path": rel}, status=400)
    return render_page(request, "jails/config_file.html", "file-editor", context)


@require_POST
@operate
@config_editor
def config_save(request: HttpRequest) -> HttpResponse:
    form = FileEditForm(request.POST)
    rel = request.POST.get("path", "")
    try:
        config_files.read(rel)  # the path, and a file the editor can show again
    except config_files.PathRefused as exc:
        audit.record(request, "config.save", target=rel[:200], result=audit.FAILED,
                     detail=str(exc))
        return render_page(request, "jails/config_refused.html", "refused",
                           {"reason": str(exc), "path": rel}, status=400)
    if not form.is_valid():
        reason = "; ".join(e for errs in form.errors.values() for e in errs)
        audit.record(request, "config.save", target=rel, result=audit.FAILED, detail=reason)
        return render_page(request, "jails/config_file.html", "file-editor",
                           _file_context(rel, form, result={"ok": False, "message": reason}),
                           status=400)
    text = form.cleaned_data["text"]
    change = config_files.Change(rel, text, form.cleaned_data["version"])
    try:
        outcome = config_files.apply([change])
    except config_files.StaleEdit as exc:
        audit.record(request, "config.save", target=rel, result=audit.FAILED, detail=str(exc))
        # Keep the user's text; the hidden version moves on only when they
        # merge and save again (so a second blind save is refused too).
        return render_page(request, "jails/config_file.html", "file-editor",
                           _file_context(rel, form, stale=exc,
                                         result={"ok": False, "message": str(exc)}),
                           status=409)
    except config_files.ConfigError as exc:
        audit.record(request, "config.save", target=rel, result=audit.FAILED, detail=str(exc))
        return render_page(request, "jails/config_file.html", "file-editor",
                           _file_context(rel, form, result={"ok": False, "message": str(exc)}),
                           status=400)
    audit.record(request, "config.save", target=rel,
                 result=audit.OK if outcome.ok else audit.FAILED, detail=outcome.message)
    fresh = config_files.read(rel)
    new_form = FileEditForm(initial={"path": rel, "version": fresh.version,
                                     "text": fresh.text or ""}) if outcome.ok else \
        FileEditForm(initial={"path": rel, "version": fresh.version, "text": text})
    return render_page(request, "jails/config_file.html", "file-editor", _file_context(
        rel, new_form, result={"ok": outcome.ok, "message": outcome.message,
                               "rolled_back": outcome.rolled_back}))


@require_POST
@operate
@config_editor
def filter_create(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.POST)
    result = None
    if form.is_valid():
        rel = f"filter.d/{form.cleaned_data['name']}.local"
        try:
            current = config_files.read(rel)
            if current.exists:
                raise config_files.ConfigError(
                    f"{rel} exists already; edit it in the file editor instead")
            if config_files.resolve(rel[:-6] + ".conf").exists():
                raise config_files.ConfigError(
                    f"a distribution filter {form.cleaned_data['name']!r} exists; pick another "
                    "name, or override it by editing its .local")
            outcome = config_files.apply([config_files.Change(rel, form.text(),
                                                              config_files.ABSENT)])
            result = {"ok": outcome.ok, "message": outcome.message,
                      "rolled_back": outcome.rolled_back}
            audit.record(request, "config.filter_create", target=rel,
                         result=audit.OK if outcome.ok else audit.FAILED,
                         detail=outcome.message)
            if outcome.ok:
                form = FilterForm()
        except config_files.ConfigError as exc:
            result = {"ok": False, "message": str(exc)}
            audit.record(request, "config.filter_create", target=rel, result=audit.FAILED,
                         detail=str(exc))
    else:
        reason = "; ".join(e for errs in form.errors.values() for e in errs)
        audit.record(request, "config.filter_create", target=request.POST.get("name", "")[:64],
                     result=audit.FAILED, detail=reason)
    return render_page(request, "jails/config.html", "filter-create",
                       _home_context(filter_form=form, filter_result=result),
                       status=200 if result is None or result["ok"] else 400)


@require_POST
@operate
def provision(request: HttpRequest) -> HttpResponse:
    try:
        outcome = jail_config.provision()
    except config_files.ConfigError as exc:
        audit.record(request, "config.provision", result=audit.FAILED, detail=str(exc))
        result = {"ok": False, "message": str(exc)}
    else:
        if outcome is None:
            result = {"ok": True, "message": "BanGUI's jails exist already; nothing to do."}
        else:
            result = {"ok": outcome.ok, "message": outcome.message,
                      "rolled_back": outcome.rolled_back}
        audit.record(request, "config.provision", target=", ".join(
            j.name for j in jail_config.BANGUI_JAILS),
            result=audit.OK if result["ok"] else audit.FAILED, detail=result["message"])
    return render_page(request, "jails/config.html", "config-files",
                       _home_context(result=result))


@login_required
@require_http_methods(["GET", "POST"])
def regex(request: HttpRequest) -> HttpResponse:
    filters = regex_tester.filter_names()
    result = error = None
    busy = False
    if request.method == "POST":
        form = RegexForm(request.POST, filters=filters)
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = regex_tester.run(
                    lines=data["lines"], log_path=data["log_path"],
                    filter_name=data["filter_name"], failregex=data["failregex"],
                    ignoreregex=data["ignoreregex"], datepattern=data["datepattern"],
                    user=request.user.get_username())
            except regex_tester.TesterError as exc:
                error = str(exc)
                busy = isinstance(exc, regex_tester.Busy)
    else:
        form = RegexForm(filters=filters, initial={"filter_name": request.GET.get("filter", "")})
    return render_page(request, "jails/regex.html", "regex-result",
                       {"form": form, "result": result, "error": error},
                       status=429 if busy else
                       400 if error or (request.method == "POST" and form.errors) else 200)


SERVER_LOCAL = "fail2ban.local"


def _server_context(form: ServerSettingsForm | None = None, **extra) -> dict:
    current = error = None
    try:
        current = link.client(connect_retries=0).server_settings()
    except Fail2banError as exc:
        error = str(exc)
    if form is None and current is not None:
        target = current.logtarget
        special = target.upper() in ("STDOUT", "STDERR", "SYSLOG")
        form = ServerSettingsForm(initial={
            "loglevel": current.loglevel.upper(), "dbpurgeage": current.dbpurgeage,
            "logtarget": target.upper() if special else "FILE",
            "logfile": "" if special else target})
    return {"current": current, "error": error, "form": form or ServerSettingsForm(), **extra}


@login_required
@require_GET
def server(request: HttpRequest) -> HttpResponse:
    return render_page(request, "jails/config_server.html", "server-settings",
                       _server_context())


@require_POST
@operate
@config_editor
def server_save(request: HttpRequest) -> HttpResponse:
    form = ServerSettingsForm(request.POST)
    if not form.is_valid():
        reason = "; ".join(e for errs in form.errors.values() for e in errs)
        audit.record(request, "settings.fail2ban", result=audit.FAILED, detail=reason)
        return render_page(request, "jails/config_server.html", "server-settings",
                           _server_context(form, result={"ok": False, "message": reason}),
                           status=400)
    data = form.cleaned_data
    values = {"loglevel": data["loglevel"], "logtarget": data["target"],
              "dbpurgeage": str(data["dbpurgeage"])}
    target = ", ".join(f"{k} {v}" for k, v in values.items())
    # Written to fail2ban.local through the config transaction (validate,
    # back up, reload, probe, roll back), so the settings survive a restart
    # and a bad one cannot leave fail2ban down.
    current = config_files.read(SERVER_LOCAL)
    change = config_files.Change(
        SERVER_LOCAL, jail_config.set_options(current.text or "", "Definition", values),
        current.version)
    try:
        outcome = config_files.apply([change])
    except config_files.ConfigError as exc:
        audit.record(request, "settings.fail2ban", target=target, result=audit.FAILED,
                     detail=str(exc))
        return render_page(request, "jails/config_server.html", "server-settings",
                           _server_context(form, result={"ok": False, "message": str(exc)}))
    audit.record(request, "settings.fail2ban", target=target,
                 result=audit.OK if outcome.ok else audit.FAILED, detail=outcome.message)
    message = (f"Set {target} in {SERVER_LOCAL}. {outcome.message}" if outcome.ok
               and outcome.changed else outcome.message)
    return render_page(request, "jails/config_server.html", "server-settings",
                       _server_context(result={"ok": outcome.ok, "message": message}))
