"""The jails list and one jail's page with its actions.

Every action is a POST by an operator, leaves an audit entry, and answers
HTMX with the refreshed ``jail-main`` fragment (result message inline) and
plain forms with a redirect back to the page carrying a message.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import audit
from accounts.models import AuditEntry
from accounts.roles import operate
from bangui import nodes as fleet_nodes
from bangui.htmx import render_page, wants_fragment
from jails.config import jail as jail_config
from jails.config import regex as regex_tester
from jails.fail2ban import Fail2banError, InvalidInput, validation
from jails.fail2ban.results import JailSettings, JailStatus
from jails.forms.bans import BanForm, UnbanForm
from jails.forms.jails import IdleForm, IgnoreForm, IgnoreSelfForm, JailSettingsForm
from jails.live import banned, link
from jails.live import status as server_status
from jails.views import results
from jails.views.results import Result, perform, refused, respond


@dataclass
class JailRow:
    name: str
    status: JailStatus
    settings: JailSettings | None
    backend: str


def _running_jails() -> tuple[list[JailRow], str | None]:
    client = link.client(connect_retries=0)
    backends = jail_config.backends()
    try:
        overview = client.overview()
        rows = []
        for status in overview.jails:
            try:
                jset = client.jail_settings(status.name, backends.get(status.name))
            except Fail2banError:
                jset = None
            rows.append(JailRow(status.name, status, jset,
                                backends.get(status.name, "?")))
        return rows, None
    except Fail2banError as exc:
        return [], str(exc)


@login_required
@require_GET
def jail_list(request: HttpRequest) -> HttpResponse:
    others, here = fleet_nodes.other_nodes()
    context = {"others": [{"node": n, "jails": [
        {"name": j, **n.jail_counts.get(j, {}), "settings": n.jail_settings.get(j)}
        for j in n.jails]} for n in others], "here": here}
    if here:  # a web-only host has no fail2ban of its own to list
        rows, error = _running_jails()
        running = [r.name for r in rows]
        context.update(rows=rows, error=error,
                       inactive=jail_config.inactive_jails(running) if not error else
                       [j for j in jail_config.configured_jails().values() if not j.enabled])
    return render_page(request, "jails/jails.html", "jail-table", context)


def _live_jail(name: str, with_settings: bool):
    """(status, settings, error) of a jail fail2ban runs; status None when
    it does not run it. ``status NAME short`` comes from the overview, read
    once per request and shared with the status bar: the full ``status
    NAME`` carries every banned IP, ~0.1 s with 50,000 bans."""
    status = jset = error = None
    try:
        state = server_status.read_state()
        if state.reachable:
            status = next((j for j in state.overview.jails if j.name == name), None)
        else:
            error = state.error
        if status is not None and with_settings:
            jset = link.client(connect_retries=0).jail_settings(
                name, jail_config.backends().get(name))
    except Fail2banError as exc:
        error = str(exc)
    return status, jset, error


def _banned_list(request: HttpRequest, name: str, status) -> dict:
    """The page of the jail's live bans the query string asks for (bips)."""
    query = request.GET.get("q", "")
    bans = ban_error = None
    if status is not None:
        try:
            bans = banned.banned_page(name, query, request.GET.get("page", "1"),
                                      total=status.currently_banned)
        except Fail2banError as exc:
            ban_error = str(exc)
    return {"name": name, "status": status, "bans": bans, "ban_error": ban_error,
            "query": query, "running": status is not None}


def _jail_context(request: HttpRequest, name: str, bans_only: bool = False) -> dict:
    """Everything the jail page shows; ``bans_only``: the banned list only.
    Http404 for a jail fail2ban neither runs nor has in its config."""
    try:
        name = validation.jail_name(name)
    except InvalidInput:
        raise Http404("no such jail") from None
    status, jset, error = _live_jail(name, with_settings=not bans_only)
    if bans_only and status is not None:
        return _banned_list(request, name, status)
    configured = jail_config.configured_jails().get(name)
    if status is None and configured is None and error is None:
        raise Http404(f"fail2ban has no jail named {name!r}, running or configured")
    # fail2ban 1.0 cannot say whether a jail is idle: show the last change
    # made through BanGUI instead (audit targets read "<jail> on|off").
    last_idle = (AuditEntry.objects.filter(action="jail.idle", result=audit.OK,
                                           target__in=[f"{name} on", f"{name} off"])
                 .order_by("-id").first() if status is not None else None)
    return {
        **_banned_list(request, name, status),
        "last_idle": last_idle, "jset": jset, "configured": configured, "error": error,
        "local_rel": jail_config.local_for(name),
        "ban_form": BanForm(), "ignore_form": IgnoreForm(),
        "settings_form": JailSettingsForm(initial=_settings_initial(jset, configured),
                                          filters=regex_tester.filter_names()),
    }


def _settings_initial(jset, configured) -> dict:
    initial = {}
    if jset:
        initial = {"bantime": jset.bantime, "findtime": jset.findtime,
                   "maxretry": jset.maxretry, "logpath": "\n".join(jset.log_paths)}
    elif configured:
        initial = {"bantime": configured.bantime, "findtime": configured.findtime,
                   "maxretry": configured.maxretry, "logpath": "\n".join(configured.logpath)}
    if configured:
        initial["filter"] = configured.filter
    return initial


@login_required
@require_GET
def jail_detail(request: HttpRequest, name: str) -> HttpResponse:
    bans_only = wants_fragment(request) and ("q" in request.GET or "page" in request.GET)
    try:
        context = _jail_context(request, name, bans_only=bans_only)
    except Http404:
        return render(request, "jails/jail_missing.html", {"name": name}, status=404)
    if bans_only and not context["running"]:
        bans_only = False
        context = _jail_context(request, name)
    return render_page(request, "jails/jail_detail.html",
                       "banned-ips" if bans_only else "jail-main", context)


def _fragment(request: HttpRequest, name: str, result: Result) -> HttpResponse:
    """The refreshed ``jail-main`` with ``result`` inline (or, for a jail
    that is gone after the action, a page that says so)."""
    try:
        context = _jail_context(request, name)
    except Http404:
        return render(request, "jails/jail_gone.html", {"name": name, "result": result})
    context["result"] = result
    return render_page(request, "jails/jail_detail.html", "jail-main", context)


def _answer(request: HttpRequest, name: str, result: Result) -> HttpResponse:
    try:
        back = reverse("jail_detail", args=[validation.jail_name(name)])
    except InvalidInput:
        back = reverse("jail_list")
    return respond(request, result, lambda r: _fragment(request, name, r), back)


def _run(request: HttpRequest, name: str, action: str, target: str, func,
         success) -> HttpResponse:
    return _answer(request, name, perform(request, action, target, func, success))


def _refused(request: HttpRequest, name: str, action: str, form) -> HttpResponse:
    return _answer(request, name, refused(request, action, name, form))


@require_POST
@operate
def ban(request: HttpRequest, name: str) -> HttpResponse:
    form = BanForm(request.POST)
    if not form.is_valid():
        return _refused(request, name, "ban", form)
    ips = form.cleaned_data["ips"]
    return _answer(request, name, results.ban(request, name, ips, {"ips": " ".join(ips)}))


@require_POST
@operate
def unban(request: HttpRequest, name: str) -> HttpResponse:
    form = UnbanForm(request.POST)
    if not form.is_valid():
        return _refused(request, name, "unban", form)
    return _answer(request, name, results.unban(request, form.cleaned_data["ip"], name))


def _command(request: HttpRequest, name: str, command: str, args: dict) -> HttpResponse:
    """A command for this jail on this host's node, through the one dispatch."""
    return _answer(request, name, results.command(request, results.node_targets(""), command,
                                                  {"jail": name, **args}))


@require_POST
@operate
def unban_all(request: HttpRequest, name: str) -> HttpResponse:
    return _command(request, name, "unbanall", {})


@require_POST
@operate
def start(request: HttpRequest, name: str) -> HttpResponse:
    return _command(request, name, "start", {})


@require_POST
@operate
def stop(request: HttpRequest, name: str) -> HttpResponse:
    return _command(request, name, "stop", {})


@require_POST
@operate
def reload(request: HttpRequest, name: str) -> HttpResponse:
    return _command(request, name, "reload", {})


def _switch(request: HttpRequest, name: str, action: str, form_class, call, said) -> HttpResponse:
    """An on/off setting: ``call(on)``; ``said(on)`` is the success message."""
    form = form_class(request.POST)
    form.is_valid()
    on = bool(form.cleaned_data.get("on"))
    return _run(request, name, action, f"{name} {'on' if on else 'off'}", lambda: call(on),
                said(on))


def _ignore_change(request: HttpRequest, name: str, action: str, remove: bool) -> HttpResponse:
    """Add or remove one ignoreip entry of the running jail."""
    form = IgnoreForm(request.POST)
    if not form.is_valid():
        return _refused(request, name, action, form)
    return _command(request, name, "ignore", {"value": form.cleaned_data["value"],
                                             "remove": remove})


@require_POST
@operate
def idle(request: HttpRequest, name: str) -> HttpResponse:
    return _switch(request, name, "jail.idle", IdleForm,
                   lambda on: link.client().set_idle(name, on),
                   lambda on: f"{name} is "
                              f"{'idle: it ignores new failures' if on else 'watching again'}.")


@require_POST
@operate
def ignore_add(request: HttpRequest, name: str) -> HttpResponse:
    return _ignore_change(request, name, "jail.ignore_add", remove=False)


@require_POST
@operate
def ignore_remove(request: HttpRequest, name: str) -> HttpResponse:
    return _ignore_change(request, name, "jail.ignore_remove", remove=True)


@require_POST
@operate
def ignore_self(request: HttpRequest, name: str) -> HttpResponse:
    return _switch(request, name, "jail.ignore_self", IgnoreSelfForm,
                   lambda on: link.client().set_ignore_self(name, on),
                   lambda on: f"{name} {'ignores' if on else 'no longer ignores'} "
                              "this host's own addresses.")


def _config_change(request: HttpRequest, name: str, action: str, values: dict, success: str):
    """Write ``values`` to the jail's .local through the config transaction."""
    target = name
    with contextlib.suppress(InvalidInput):  # a bad name: refused by apply_change
        target = f"{name} ({jail_config.local_for(name)})"
    return _run(request, name, action, target,
                lambda: jail_config.apply_change(name, values), success)


@require_POST
@operate
def enable(request: HttpRequest, name: str) -> HttpResponse:
    return _config_change(request, name, "jail.enable", {"enabled": "true"},
                          f"Enabled {name}.")


@require_POST
@operate
def disable(request: HttpRequest, name: str) -> HttpResponse:
    return _config_change(request, name, "jail.disable", {"enabled": "false"},
                          f"Disabled {name}.")


@require_POST
@operate
def jail_settings(request: HttpRequest, name: str) -> HttpResponse:
    form = JailSettingsForm(request.POST, filters=regex_tester.filter_names())
    if not form.is_valid():
        return _refused(request, name, "config.jail", form)
    values = form.values(_current_settings(name))
    if not values:
        return _answer(request, name, Result(False, "Nothing to change: the values are as "
                                                    "configured."))
    return _config_change(request, name, "config.jail", values,
                          f"Updated {', '.join(values)} of {name}.")


def _current_settings(name: str) -> dict:
    """What the settings form showed: fail2ban's values of a running jail,
    else the config's."""
    try:
        client = link.client(connect_retries=0)
        jset = client.jail_settings(name) if name in client.jail_names() else None
    except Fail2banError:
        jset = None
    try:
        return _settings_initial(jset, jail_config.configured_jails().get(
            validation.jail_name(name)))
    except InvalidInput:
        return {}
