"""The jails list and one jail's page with its actions, for any node.

One page and one set of action views, with the node as a parameter:
``/jails/NAME/...`` is this host's node, ``/nodes/NODE/jails/NAME/...``
any node's (this host's included, which shows the same). This host's jail
is read from its fail2ban; another node's from what its worker published
(counters, settings, ignore list, its config's jails, live bans). Every
fail2ban action goes through the one dispatch (jails/views/results.py
``command``), the config changes (enable, disable, settings) too: they run
the config transaction on the node whose files they change.

Every action is a POST by an operator, leaves an audit entry, and answers
HTMX with the refreshed ``jail-main`` fragment (result message inline) and
plain forms with a redirect back to the page carrying a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import audit
from accounts.models import AuditEntry
from accounts.roles import ban_or_unban, can_edit_config, operate
from bangui.htmx import render_page, wants_fragment
from jails.config import jail as jail_config
from jails.config import regex as regex_tester
from jails.fail2ban import Fail2banError, InvalidInput, validation
from jails.fail2ban.results import JailSettings, JailStatus
from jails.fleet import dispatch
from jails.fleet import live as fleet_live
from jails.forms.bans import BanForm, UnbanForm
from jails.forms.jails import IdleForm, IgnoreForm, IgnoreSelfForm, JailSettingsForm
from jails.live import banned, link
from jails.live import status as server_status
from jails.views import results
from jails.views.results import Result, refused, respond
from nodes import fleet as fleet_nodes
from nodes.models import Node


@dataclass(frozen=True)
class JailTimes:
    bantime: int
    findtime: int
    maxretry: int


@dataclass
class JailRow:
    name: str
    status: JailStatus
    settings: JailTimes | None  # what the list shows of each jail's settings
    backend: str
    journalmatch: tuple[str, ...] = ()  # what a journal-backed jail reads

    @property
    def journal(self) -> bool:
        return jail_config.is_journal(self.backend)


def _running_jails() -> tuple[list[JailRow], str | None]:
    """The running jails with their counters (the overview the status bar
    reads too, once per request) and their ban time, find time and max
    retry (three ``get`` a jail, on one connection)."""
    state = server_status.read_state()
    if not state.reachable:
        return [], state.error
    backends = jail_config.backends()
    configured = jail_config.configured_jails()
    names = [status.name for status in state.overview.jails]
    try:
        times = link.client(connect_retries=0).jail_times(names)
    except Fail2banError:  # a jail stopped meanwhile: the counters still show
        times = {}
    rows = []
    for status in state.overview.jails:
        conf = configured.get(status.name)
        rows.append(JailRow(status.name, status,
                            JailTimes(*times[status.name]) if status.name in times else None,
                            backends.get(status.name) or (conf.backend if conf else "?"),
                            conf.journalmatch if conf else ()))
    return rows, None


def node_jails(node: Node) -> dict:
    """A node's jails as its worker published them: the running ones with
    their counters and settings, and the configured ones it does not run."""
    return {"node": node, "jails": [
        {"name": j, **node.jail_counts.get(j, {}), "settings": node.jail_settings.get(j)}
        for j in node.jails], "inactive": list(filter(None, (
            jail_config.published(node.configured_jails, j) for j in node.configured_jails
            if j not in node.jails)))}


@login_required
@require_GET
def jail_list(request: HttpRequest) -> HttpResponse:
    others, here = fleet_nodes.other_nodes()
    context = {"others": [node_jails(n) for n in others], "here": here}
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


def _here(node: str | None) -> bool:
    return not node or node == settings.BANGUI_NODE


def _base(name: str, node: str | None) -> str:
    """The jail page's URL, to which its actions' paths are added."""
    if _here(node):
        return reverse("jail_detail", args=[name])
    return reverse("node_jail_detail", args=[node, name])


def _jail_context(request: HttpRequest, name: str, bans_only: bool = False,
                  node: str | None = None) -> dict:
    """Everything the jail page shows; ``bans_only``: the banned list only.
    Http404 for a jail the node neither runs nor (this host) has in its config."""
    try:
        name = validation.jail_name(name)
    except InvalidInput:
        raise Http404("no such jail") from None
    if not _here(node):
        context = _published_jail(request, node, name)
    else:
        status, jset, error = _live_jail(name, with_settings=not bans_only)
        if bans_only and status is not None:
            return {**_banned_list(request, name, status), "base": _base(name, None)}
        configured = jail_config.configured_jails().get(name)
        if status is None and configured is None and error is None:
            raise Http404(f"fail2ban has no jail named {name!r}, running or configured")
        context = {
            **_banned_list(request, name, status), "jset": jset, "configured": configured,
            "error": error, "filters": regex_tester.filter_names(),
            "last_idle": _last_idle(name, settings.BANGUI_NODE) if status is not None else None,
            "backend": (jset.backend if jset else None) or (configured.backend if configured
                                                            else None)}
    journal = _reads_journal(context["jset"], context["configured"])
    context.update(base=_base(name, node), journal=journal,
                   file_url=reverse("config_file") if _here(node)
                   else reverse("node_config_file", args=[node]),
                   local_rel=jail_config.local_for(name),
                   banaction=_banaction_problem(context["configured"]),
                   ban_form=BanForm(), ignore_form=IgnoreForm())
    context["settings_form"] = _settings_form(request, context)
    return context


def _settings_form(request: HttpRequest, context: dict, data=None) -> JailSettingsForm:
    """The jail's settings form: its node's filter names, log files only
    for who may edit the config, none for a journal-backed jail."""
    return JailSettingsForm(data, initial=_settings_initial(context["jset"],
                                                            context["configured"]),
                            filters=context["filters"],
                            may_set_logpath=can_edit_config(request.user),
                            journal=context["journal"])


def _reads_journal(jset, configured) -> bool:
    """Whether the jail reads the systemd journal: the running jail's backend
    (fail2ban-client -d), else the config's."""
    backend = (jset.backend if jset else None) or (configured.backend if configured else "")
    return jail_config.is_journal(backend)


def _banaction_problem(configured) -> dict | None:
    """What the page says when the jail's action needs a banaction the
    config does not define (fail2ban would refuse the config)."""
    if configured is None or not configured.banaction_missing:
        return None
    return {"options": configured.banaction_missing,
            "fix": jail_config.banaction_fix(configured.banaction_missing)}


def _last_idle(name: str, node: str) -> AuditEntry | None:
    """fail2ban 1.0 cannot say whether a jail is idle: the last switch made
    through BanGUI on that node instead (audit targets read "<jail> on|off")."""
    return (AuditEntry.objects.filter(action="jail.idle", result=audit.OK, node=node,
                                      target__in=[f"{name} on", f"{name} off"])
            .order_by("-id").first())


def _published_jail(request: HttpRequest, node: str, name: str) -> dict:
    """Another node's jail as its worker last published it: its counters,
    settings and config on its Node row, its live bans in LiveBan
    (jails/fleet/live.py); the same names as this host's context, so one
    template shows both. A configured jail the node does not run has its
    config only."""
    row = Node.objects.filter(pk=node).first()
    configured = jail_config.published(row.configured_jails, name) if row else None
    running = row is not None and name in (row.jails or [])
    if not running and configured is None:
        raise Http404(f"node {node!r} has no jail named {name!r}, running or configured")
    live = fleet_live.states([node])[node]
    status = jset = bans = ban_error = None
    if running:
        counts = (row.jail_counts or {}).get(name, {})
        status = JailStatus(name, counts.get("failed", 0), counts.get("total_failed", 0), [],
                            counts.get("banned", 0), counts.get("total_banned", 0), [])
        published = (row.jail_settings or {}).get(name)
        jset = published and JailSettings(
            name, published["bantime"], published["findtime"], published["maxretry"],
            published.get("backend"), list(published.get("log_paths") or []),
            list(published.get("ignore_ips") or []), bool(published.get("ignore_self")),
            list(published.get("actions") or []))
    query = request.GET.get("q", "").strip()[:64]
    if running and live.known:
        bans = SimpleNamespace(page=Paginator(
            fleet_live.banned(node, query).filter(jail=name), banned.PER_PAGE).get_page(
            request.GET.get("page")))
    elif running:
        ban_error = f"Its live bans are unknown: {live.note}."
    return {"name": name, "node": node, "remote": True, "last_idle": _last_idle(name, node),
            "status": status, "running": running, "jset": jset or None, "bans": bans,
            "ban_error": ban_error, "query": query, "configured": configured,
            "filters": list(row.filters or []),
            "backend": (jset.backend if jset else None) or (configured.backend if configured
                                                            else None),
            "error": None if row.is_up() else live.note}


def _settings_initial(jset, configured) -> dict:
    """What the settings form shows; no log files for a journal-backed jail
    (it has none: the form has no such field)."""
    initial = {}
    if jset:
        initial = {"bantime": jset.bantime, "findtime": jset.findtime,
                   "maxretry": jset.maxretry, "logpath": "\n".join(jset.log_paths)}
    elif configured:
        initial = {"bantime": configured.bantime, "findtime": configured.findtime,
                   "maxretry": configured.maxretry, "logpath": "\n".join(configured.logpath)}
    if configured:
        initial["filter"] = configured.filter
    if _reads_journal(jset, configured):
        initial.pop("logpath", None)
    return initial


@login_required
@require_GET
def jail_detail(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    bans_only = wants_fragment(request) and ("q" in request.GET or "page" in request.GET)
    try:
        context = _jail_context(request, name, bans_only=bans_only, node=node)
    except Http404:
        return render(request, "jails/jail_missing.html", {"name": name, "node": node},
                      status=404)
    if bans_only and not context["running"]:
        bans_only = False
        context = _jail_context(request, name, node=node)
    return render_page(request, "jails/jail_detail.html",
                       "banned-ips" if bans_only else "jail-main", context)


def _fragment(request: HttpRequest, name: str, result: Result,
              node: str | None = None, at: str = "", keep: dict | None = None) -> HttpResponse:
    """The refreshed ``jail-main`` with ``result`` inline (or, for a jail
    that is gone after the action, a page that says so). ``at``: the form
    low on the page that asked ("ignore", "settings"), whose answer shows
    beside it instead of at the top; ``keep``: what that form showed when
    the action failed (the typed value, the bound form with its errors)."""
    try:
        context = _jail_context(request, name, node=node)
    except Http404:
        return render(request, "jails/jail_gone.html", {"name": name, "result": result})
    context["result"] = result
    context["result_at"] = at
    if keep and not result.ok:
        context.update(keep)
    return render_page(request, "jails/jail_detail.html", "jail-main", context)


def _answer(request: HttpRequest, name: str, result: Result,
            node: str | None = None, at: str = "", keep: dict | None = None) -> HttpResponse:
    try:
        back = _base(validation.jail_name(name), node)
    except InvalidInput:
        back = reverse("jail_list")
    return respond(request, result, lambda r: _fragment(request, name, r, node, at, keep), back)


def _refused(request: HttpRequest, name: str, action: str, form,
             node: str | None = None, at: str = "", keep: dict | None = None) -> HttpResponse:
    return _answer(request, name, refused(request, action, name, form), node, at, keep)


@require_POST
@ban_or_unban
def ban(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    form = BanForm(request.POST)
    if not form.is_valid():
        return _refused(request, name, "ban", form, node)
    ips = form.cleaned_data["ips"]
    return _answer(request, name, results.ban(request, name, ips, {"ips": " ".join(ips)},
                                              node=node or ""), node)


@require_POST
@ban_or_unban
def unban(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    form = UnbanForm(request.POST)
    if not form.is_valid():
        return _refused(request, name, "unban", form, node)
    return _answer(request, name, results.unban(request, form.cleaned_data["ip"], name,
                                                node or ""), node)


def _command(request: HttpRequest, name: str, command: str, args: dict,
             node: str | None = None, at: str = "", keep: dict | None = None) -> HttpResponse:
    """A command for this jail on its node, through the one dispatch."""
    return _answer(request, name, results.command(request, dispatch.targets(node or ""),
                                                  command, {"jail": name, **args}), node,
                   at, keep)


@require_POST
@operate
def unban_all(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _command(request, name, "unbanall", {}, node)


@require_POST
@operate
def start(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _command(request, name, "start", {}, node)


@require_POST
@operate
def stop(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _command(request, name, "stop", {}, node)


@require_POST
@operate
def reload(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _command(request, name, "reload", {}, node)


def _switch(request: HttpRequest, name: str, command: str, form_class,
            node: str | None = None, at: str = "") -> HttpResponse:
    """An on/off switch of the running jail (idle, ignore self): a command."""
    form = form_class(request.POST)
    form.is_valid()
    return _command(request, name, command, {"on": bool(form.cleaned_data.get("on"))}, node,
                    at)


def _ignore_change(request: HttpRequest, name: str, action: str, remove: bool,
                   node: str | None = None) -> HttpResponse:
    """Add or remove one ignoreip entry of the running jail; the answer
    shows beside the ignore list, and a failed add keeps what was typed."""
    form = IgnoreForm(request.POST)
    keep = {"ignore_value": str(request.POST.get("value", ""))[:100]} if not remove else None
    if not form.is_valid():
        return _refused(request, name, action, form, node, "ignore", keep)
    return _command(request, name, "ignore", {"value": form.cleaned_data["value"],
                                             "remove": remove}, node, "ignore", keep)


@require_POST
@operate
def idle(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _switch(request, name, "idle", IdleForm, node)


@require_POST
@operate
def ignore_add(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _ignore_change(request, name, "jail.ignore_add", remove=False, node=node)


@require_POST
@operate
def ignore_remove(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _ignore_change(request, name, "jail.ignore_remove", remove=True, node=node)


@require_POST
@operate
def ignore_self(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _switch(request, name, "ignore_self", IgnoreSelfForm, node, at="ignore")


def _config_change(request: HttpRequest, name: str, values: dict, node: str | None = None,
                   at: str = "", keep: dict | None = None) -> HttpResponse:
    """Write ``values`` to the jail's .local on its node, through the config
    transaction there (jails/fleet/commands.py ``jail_config``)."""
    return _command(request, name, "jail_config", {"values": values}, node, at, keep)


@require_POST
@operate
def enable(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _config_change(request, name, {"enabled": "true"}, node)


@require_POST
@operate
def disable(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    return _config_change(request, name, {"enabled": "false"}, node)


@require_POST
@operate
def jail_settings(request: HttpRequest, name: str, node: str | None = None) -> HttpResponse:
    try:
        context = _jail_context(request, name, node=node)
    except Http404 as exc:
        return _answer(request, name, Result(False, f"{exc}: nothing was changed."), node)
    if context["configured"] is None:  # nothing to write to (or not published yet)
        return _answer(request, name, Result(False, f"The config of {name} is not known "
                                                    "here yet: nothing was changed."), node)
    form = _settings_form(request, context, request.POST)
    # The answer shows beside the form; a refused or failed save keeps what
    # was typed (the bound form, with its errors), not the values on disk.
    keep = {"settings_form": form}
    if not form.is_valid():
        return _refused(request, name, "config.jail", form, node, "settings", keep)
    values = form.values(_settings_initial(context["jset"], context["configured"]))
    if not values:
        return _answer(request, name, Result(False, "Nothing to change: the values are as "
                                                    "configured."), node, "settings")
    return _config_change(request, name, values, node, "settings", keep)
