"""The commands to a fail2ban: one vocabulary (:data:`COMMANDS`), what each
does and says, validated once (:func:`clean`) and run by :func:`run`
wherever that fail2ban is: in the process that sent it when the node is
this process's own, else by :func:`execute` on the node's command lane.
How a command gets there (and its answer back) is jails/fleet/dispatch.py;
docs/fleet.md has the decisions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict

from django.conf import settings
from django.db import DatabaseError

from accounts import audit
from accounts.models import AuditEntry
from bangui.dbretry import retrying
from jails import health
from jails.archive import sync as archive
from jails.config import files, history, regex, server
from jails.config import jail as jail_config
from jails.fail2ban import Fail2banError, InvalidInput, validation
from jails.live import actions, link
from jails.models import ConfigVersion

logger = logging.getLogger(__name__)

# -- the commands that lift bans (unban, unban all, stop) sync first ----------
# BanGUI notes who lifted a ban on the ban's archive row
# (archive.record_unbans), so that row must be there first: a ban fail2ban
# made since the last sync (the tick's, seconds ago) has none yet. Without
# the sync first, such a ban was lost (an unban makes fail2ban delete its
# own rows of that jail+IP, delBan, before any sync copies them) or reached
# the archive later as "lifted outside BanGUI" (a stopped jail's bans stay
# in fail2ban's file). So these commands run the node's archive sync
# first, on the node whose fail2ban they lift (in the web process for this
# host's node, on the node's command lane for the others: wherever
# :func:`run` runs). Reload lifts nothing BanGUI records (a jail dropped
# from the config by a reload is "lifted outside BanGUI" as before).
#
# The sync copies every jail's new rows, not only the jail concerned: its
# cursor is one per fail2ban database, in rowid order across jails (a
# per-jail read would need a cursor of its own per jail, and leave the
# node's cursor to re-read those rows). In the steady state that is the
# few rows since the last tick: one read of the cursor row and one short
# page of fail2ban's file. It is bounded as the tick is (jails.tasks.
# TICK_MAX_ROWS, 20,000 rows, a few seconds at most), so a command costs at
# most what a tick costs; with a longer backlog (a node that just joined
# with a long history) the newest bans may lie past the bound and keep the
# old outcome until the ticks catch up. A sync that fails (no database,
# unreadable file) is logged and the lift goes on: lifting the ban is what
# the admin asked for; the archive's note is second.
SYNC_FIRST_MAX_ROWS = 20_000  # = jails.tasks.TICK_MAX_ROWS (the tests check it)


def sync_first(command: str) -> None:
    """Copy fail2ban's newest rows into the archive before ``command``
    lifts bans (see above); never raises."""
    try:
        # Never behind another sync (an import's copy of 100,000 rows held
        # a web unban 48 s in the soak): that one is copying the rows anyway.
        archive.sync(max_rows=SYNC_FIRST_MAX_ROWS, wait=0)
    except archive.Busy:
        return
    except Exception as exc:  # the lift goes on: logged, the scheduled sync says it too
        logger.warning("archive sync before %s on node %s failed: %s: %s", command,
                       settings.BANGUI_NODE, type(exc).__name__, exc)


# -- the vocabulary: each takes validated keyword arguments and the actor, and
# returns what happened in a sentence for a person (the web shows it, the CLI
# prints it) --------------------------------------------------------------------
def shown(ips: list[str]) -> str:
    return ", ".join(ips[:5]) + (" …" if len(ips) > 5 else "")


def _ban(*, jail: str, ips: list[str], actor: str) -> str:
    count = actions.ban(jail, ips, actor)
    if len(ips) > 1:
        return f"Banned {shown(ips)} in {jail} ({count} newly banned)."
    return f"Banned {ips[0]} in {jail}." if count else f"{ips[0]} was already banned in {jail}."


def _unban(*, ips: list[str], actor: str, jail: str | None = None) -> str:
    sync_first("unban")
    count = actions.unban(ips, actor, jail)
    where = f"from {jail}" if jail else "from every jail"
    if len(ips) > 1:
        return f"Unbanned {shown(ips)} {where} ({count} were banned)."
    return (f"Unbanned {ips[0]} {where}." if count
            else f"{ips[0]} was not banned {where}; nothing to do.")


def _start(*, jail: str, actor: str) -> str:
    link.cli().start_jail(jail)
    return f"Started {jail}."


def _stop(*, jail: str, actor: str) -> str:
    sync_first("stop")
    lifted = actions.stop_jail(jail, actor)
    return f"Stopped {jail}; its {lifted} bans were lifted. Start it again from its config."


def _reload(*, actor: str, jail: str | None = None) -> str:
    link.cli().reload(jail)
    return f"Reloaded {jail} from its config." if jail else "Reloaded every jail from the config."


def _unbanall(*, jail: str, actor: str) -> str:
    sync_first("unbanall")
    count = actions.unban_all(jail, actor)
    return f"Unbanned all {count} IPs from {jail}."


def _ignore(*, jail: str, value: str, actor: str, remove: bool = False) -> str:
    client = link.client()
    if remove:
        client.remove_ignore(jail, value)
        return f"{jail} no longer ignores {value}."
    client.add_ignore(jail, value)
    return (f"{jail} now ignores {value} (until fail2ban reloads; put it in the jail's .local "
            "to keep it).")


def _idle(*, jail: str, on: bool, actor: str) -> str:
    link.client().set_idle(jail, on)
    return f"{jail} is idle: it ignores new failures." if on else f"{jail} is watching again."


def _ignore_self(*, jail: str, on: bool, actor: str) -> str:
    link.client().set_ignore_self(jail, on)
    return f"{jail} {'ignores' if on else 'no longer ignores'} this host's own addresses."


REGEX_MAX_LINES = 2000  # per list (matched, ignored, missed) in a node's answer



def _regex(*, actor: str, **test) -> tuple[str, dict]:
    """fail2ban-regex on this node (its filter.d, its log files): the
    regex tester's run, its lists clipped for the answer's size."""
    # Who may test a log file is the web's check (the view never sends a
    # log path for a user who may not read logs): a node cannot look users
    # up (its database role is refused them) and runs what the queue holds,
    # which only the web tier and the nodes write.
    try:
        result = regex.run(user=actor, **test)
    except regex.Busy as exc:  # the caller says "try again" (429), not "wrong"
        return str(exc), {"busy": True}
    except regex.TesterError as exc:
        raise InvalidInput(str(exc)) from None
    data = asdict(result)
    clipped = False
    for key in ("matched", "ignored", "missed"):
        clipped = clipped or len(data[key]) > REGEX_MAX_LINES
        data[key] = data[key][:REGEX_MAX_LINES]
    data["clipped"] = clipped
    return (f"{result.total} lines tested from {result.source}: {len(result.matched)} "
            f"matched, {len(result.ignored)} ignored, {len(result.missed)} missed"), data


# -- a node's config files (jails/fleet/config.py reads the answers) ----------
def _config_list(*, actor: str) -> tuple[str, dict]:
    listing = files.listing()
    return f"{sum(len(v) for v in listing.values())} config files", {"files": listing}


def _file_answer(current) -> dict:
    return {"rel": current.rel, "text": current.text, "link": current.link}


def _config_read(*, path: str, actor: str) -> tuple[str, dict]:
    try:
        current = files.read(path)
    except files.ConfigError as exc:
        raise InvalidInput(str(exc)) from None
    # The editor's read notices a change made outside BanGUI (the config
    # history; docs/config.md): kept as a version, here on the node.
    history.note_read(current.rel, current.text)
    return f"read {current.rel}", _file_answer(current)


def _config_save(*, path: str, text: str, expected: str, actor: str) -> tuple[str, dict]:
    """The config transaction on this node: write, ``fail2ban-client -t``,
    reload, roll back on failure (jails.config.files.apply). A stale edit
    answers the saved version, so the editor can show the difference; it and a
    rolled-back save are answers whose change did not take (``done``)."""
    return _saved(path, lambda: files.save(path, text, expected, actor=actor))


def _config_restore(*, path: str, version: int, expected: str, actor: str
                    ) -> tuple[str, dict]:
    """A version of the config history written back through the same
    transaction (docs/config.md, "Config history"): the node reads it from
    the shared database, so only versions of its own files are restored."""
    row = history.version(path, settings.BANGUI_NODE, version)
    if row is None:
        raise InvalidInput(f"{path} has no version #{version} on node {settings.BANGUI_NODE}")
    reason = (f"restored version #{row.pk} ({row.get_kind_display()}, "
              f"{row.created_at:%Y-%m-%d %H:%M} UTC)")
    return _saved(path, lambda: files.save(path, row.text, expected, actor=actor,
                                           reason=reason, kind=ConfigVersion.RESTORED))


def _saved(path: str, transaction: Callable) -> tuple[str, dict]:
    try:
        outcome = transaction()
    except files.StaleEdit as exc:
        return str(exc), {"stale": {"current": exc.current, "current_hash": exc.current_hash,
                                    "attempted": exc.attempted}, "done": False}
    except files.ConfigError as exc:
        raise InvalidInput(str(exc)) from None
    return outcome.message, {"outcome": asdict(outcome),
                             "file": _file_answer(files.read(path)), "done": outcome.ok}


# -- the config changes of the jail and config pages, on the node whose files
# they change: each one config transaction (validate, back up, reload, probe,
# roll back), named in the config history as the actor's --------------------------
JAIL_FIELDS = {"enabled": 5, "bantime": 20, "findtime": 20, "maxretry": 6, "filter": 100,
               "logpath": 4000}
SERVER_FIELDS = {"loglevel": 20, "logtarget": 300, "dbpurgeage": 20}


def _applied(transaction: Callable, said: str = "", reason: str = "",
             actor: str = "") -> tuple[str, dict]:
    """Run ``transaction`` (a config Outcome, or None for nothing to do):
    its words (``said`` before them when it took) and its outcome."""
    try:
        with history.acting(actor, reason):
            outcome = transaction()
    except files.ConfigError as exc:
        raise InvalidInput(str(exc)) from None
    if outcome is None:
        return said, {"done": True}
    message = f"{said} {outcome.message}".strip() if outcome.ok and said else outcome.message
    return message, {"outcome": asdict(outcome), "done": outcome.ok}


def jail_change_said(jail: str, values: dict) -> str:
    if set(values) == {"enabled"}:
        return f"{'Enabled' if values['enabled'] == 'true' else 'Disabled'} {jail}."
    return f"Updated {', '.join(values)} of {jail}."


def _jail_config(*, jail: str, values: dict, actor: str) -> tuple[str, dict]:
    """Set ``values`` (enabled, bantime, …) in the jail's .local."""
    return _applied(lambda: jail_config.apply_change(jail, values),
                    jail_change_said(jail, values), actor=actor)


def _filter_create(*, name: str, text: str, actor: str) -> tuple[str, dict]:
    return _applied(lambda: jail_config.create_filter(name, text), actor=actor)


def _provision(*, actor: str) -> tuple[str, dict]:
    """BanGUI's own jails (manual, blocklist, permanent) where missing."""
    outcome = _applied(jail_config.provision, reason="BanGUI's own jails provisioned",
                       actor=actor)
    return outcome if outcome[0] else ("BanGUI's jails exist already; nothing to do.",
                                       outcome[1])


def _server_settings(*, values: dict, actor: str) -> tuple[str, dict]:
    """fail2ban's log level, log target and purge age, in fail2ban.local."""
    message, data = _applied(lambda: server.save(values), reason="server settings",
                             actor=actor)
    if data["done"] and data["outcome"]["changed"]:
        message = f"Set {server_target(values)} in {server.SERVER_LOCAL}. {message}"
    return message, data


def server_target(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def _status(*, actor: str, jail: str | None = None) -> str:
    client = link.client()
    if jail:
        s = client.jail_status(jail)
        lines = [f"{s.name}: {s.currently_banned} banned now, {s.total_banned} total; "
                 f"{s.currently_failed} failing now, {s.total_failed} total failures"]
        lines += [f"  log: {path}" for path in s.file_list]
        lines += [f"  banned: {ip}" for ip in s.banned_ips]
        return "\n".join(lines)
    overview = client.overview()
    lines = [f"fail2ban {overview.version} at {client.socket_path}: "
             f"{len(overview.jails)} jails, {overview.currently_banned} banned now"]
    lines += [f"  {s.name}: {s.currently_banned} banned, {s.currently_failed} failing"
              for s in overview.jails]
    return "\n".join(lines)


COMMANDS: dict[str, Callable[..., str]] = {
    "ban": _ban, "unban": _unban, "unbanall": _unbanall, "ignore": _ignore, "start": _start,
    "idle": _idle, "ignore_self": _ignore_self,
    "stop": _stop, "reload": _reload, "status": _status, "regex": _regex,
    "config_list": _config_list, "config_read": _config_read, "config_save": _config_save,
    "config_restore": _config_restore, "jail_config": _jail_config,
    "filter_create": _filter_create, "provision": _provision,
    "server_settings": _server_settings,
}
# Commands that change something (audited by the caller); the others only read.
CHANGES = frozenset(COMMANDS) - {"status", "regex", "config_list", "config_read"}
AUDIT_ACTIONS = {"unbanall": "jail.unban_all", "start": "jail.start", "stop": "jail.stop",
                 "reload": "jail.reload", "config_save": "config.save",
                 "config_restore": "config.restore", "idle": "jail.idle",
                 "ignore_self": "jail.ignore_self", "filter_create": "config.filter_create",
                 "provision": "config.provision", "server_settings": "settings.fail2ban"}
SWITCHES = ("idle", "ignore_self")  # on/off switches of a running jail
CONFIG_FIELDS = {"path": 300, "text": 512 * 1024 + 1, "expected": 64}
REGEX_FIELDS = {"lines": 1024 * 1024, "log_path": 500, "journal": 100, "filter_name": 100,
                "failregex": 20000, "ignoreregex": 20000, "datepattern": 200}


def attempt(command: str, args: dict) -> str:
    """What a command tried, for "Could not …"."""
    jail, ips = args.get("jail"), shown(list(args.get("ips") or []))
    return {
        "ban": f"ban {ips} in {jail}", "unban": f"unban {ips}" + (f" from {jail}" if jail else ""),
        "unbanall": f"unban everyone in {jail}", "start": f"start {jail}",
        "stop": f"stop {jail}", "reload": f"reload {jail or 'the config'}",
        "ignore": (f"change the ignore list of {jail}"), "idle": f"switch idle on {jail}",
        "ignore_self": f"switch ignoring this host on {jail}",
        "status": "read fail2ban's status", "regex": "run the regex test",
        "config_list": "list the config files", "config_read": f"read {args.get('path')}",
        "config_save": f"save {args.get('path')}",
        "config_restore": f"restore a version of {args.get('path')}",
        "jail_config": f"change {jail}'s config", "filter_create": f"create filter "
        f"{args.get('name')}", "provision": "create BanGUI's jails",
        "server_settings": "change fail2ban's server settings",
    }.get(command, command)


def audit_action(command: str, args: dict) -> str:
    """The audit trail's name of a command that changes something."""
    if command == "ignore":
        return "jail.ignore_remove" if args.get("remove") else "jail.ignore_add"
    if command == "jail_config":
        values = args.get("values") or {}
        if set(values) == {"enabled"}:
            return "jail.enable" if values["enabled"] == "true" else "jail.disable"
        return "config.jail"
    return AUDIT_ACTIONS.get(command, command)


def audit_target(command: str, args: dict) -> str:
    """What a command acts on, as the audit trail shows it."""
    if command in ("config_save", "config_restore"):
        return str(args.get("path", ""))
    if command == "jail_config":
        try:
            return f"{args.get('jail')} ({jail_config.local_for(args.get('jail') or '')})"
        except InvalidInput:
            return str(args.get("jail") or "")[:200]
    if command == "filter_create":
        return f"filter.d/{args.get('name')}.local"[:200]
    if command == "provision":
        return ", ".join(j.name for j in jail_config.BANGUI_JAILS)
    if command == "server_settings":
        return server_target(args.get("values") or {})[:200]
    if command in SWITCHES:  # "<jail> on|off": the jail page reads the last idle switch
        return f"{args.get('jail') or ''} {'on' if args.get('on') else 'off'}"
    words = [args.get("jail") or "", *(args.get("ips") or []), args.get("value") or ""]
    return " ".join(w for w in words if w)[:200] or "all jails"


def clean(command: str, args: dict) -> dict:
    """The arguments validated before anything is sent anywhere (InvalidInput
    says what is wrong): a bad jail or IP never reaches a queue."""
    if command not in COMMANDS:
        raise InvalidInput(f"unknown command {command!r}; one of: {', '.join(sorted(COMMANDS))}")
    out = dict(args)
    if out.get("jail") is not None:
        out["jail"] = validation.jail_name(out["jail"])
    if "ips" in out:
        # addresses or networks, none wider than validation.WIDEST_PREFIX
        out["ips"] = validation.ban_targets(out["ips"])
        if not out["ips"]:
            raise InvalidInput("no IP address given")
    if command in ("unbanall", "ignore", *SWITCHES) and not out.get("jail"):
        raise InvalidInput(f"{command} needs a jail")
    if command in SWITCHES:
        out["on"] = bool(out.get("on", False))
    if command == "ignore":
        out["value"] = validation.ignore_value(str(out.get("value", "")))
        out["remove"] = bool(out.get("remove", False))
    if command in ("config_read", "config_save"):
        wanted = {"path"} if command == "config_read" else set(CONFIG_FIELDS)
        if set(out) != wanted:
            raise InvalidInput(f"{command} takes {', '.join(sorted(wanted))}")
        for key in wanted:
            if not isinstance(out[key], str) or len(out[key]) > CONFIG_FIELDS[key]:
                raise InvalidInput(f"{key}: text of at most {CONFIG_FIELDS[key]} characters")
    if command == "config_restore":
        if set(out) != {"path", "version", "expected"}:
            raise InvalidInput("config_restore takes expected, path, version")
        for key in ("path", "expected"):
            if not isinstance(out[key], str) or len(out[key]) > CONFIG_FIELDS[key]:
                raise InvalidInput(f"{key}: text of at most {CONFIG_FIELDS[key]} characters")
        try:
            out["version"] = int(out["version"])
        except (TypeError, ValueError):
            raise InvalidInput("version: a version number") from None
        if out["version"] < 1:
            raise InvalidInput("version: a version number")
    if command == "jail_config":
        out["values"] = _fields(out.get("values"), JAIL_FIELDS, "values")
        if not out.get("jail") or not out["values"]:
            raise InvalidInput("jail_config needs a jail and the values to set")
    if command == "server_settings":
        out["values"] = _fields(out.get("values"), SERVER_FIELDS, "values")
    if command == "filter_create":
        if set(out) != {"name", "text"}:
            raise InvalidInput("filter_create takes name, text")
        out["name"] = validation.filter_name(out["name"])
        out.update(_fields({"text": out["text"]}, {"text": 64 * 1024}, "filter_create"))
    if command == "regex":
        unknown = set(out) - set(REGEX_FIELDS)
        if unknown:
            raise InvalidInput(f"regex takes no {', '.join(sorted(unknown))}")
        for key, limit in REGEX_FIELDS.items():
            value = out.get(key) or ""
            if not isinstance(value, str) or len(value) > limit:
                raise InvalidInput(f"{key}: text of at most {limit} characters")
            out[key] = value
    return out


def _fields(given, limits: dict, what: str) -> dict:
    """A dict of text values whose keys are among ``limits`` (their lengths)."""
    if not isinstance(given, dict) or set(given) - set(limits):
        raise InvalidInput(f"{what}: some of {', '.join(limits)}")
    for key, value in given.items():
        if not isinstance(value, str) or len(value) > limits[key]:
            raise InvalidInput(f"{key}: text of at most {limits[key]} characters")
    return dict(given)


def answer(command: str, args: dict, actor: str) -> tuple[str, dict | None]:
    """Run ``command`` here: its words and its structured answer (None for
    the commands that have only words)."""
    out = COMMANDS[command](actor=actor, **clean(command, args))
    return out if isinstance(out, tuple) else (out, None)


def run(command: str, args: dict, actor: str) -> dict:
    """Run ``command`` against this process's fail2ban. Never raises: the
    answer is ``{"ok", "message"[, "data"][, "refused"]}``, the same shape wherever it ran;
    not ok also when it ran but its change did not take (data ``done`` False)."""
    try:
        message, data = answer(command, args, actor)
    except Fail2banError as exc:
        # "refused": the node's reason alone, for callers that show it in
        # their own words (the config editor).
        return {"ok": False, "message": f"Could not {attempt(command, args)}: {exc}",
                "refused": str(exc)}
    except Exception:  # the sender must hear something
        logger.exception("command %s failed on node %s", command, settings.BANGUI_NODE)
        return {"ok": False, "message": f"failed on node {settings.BANGUI_NODE}: see its log"}
    if command in CHANGES:  # the next facts re-read the jails' settings
        health.forget_jail_settings()
    return {"ok": bool((data or {}).get("done", True)), "message": message,
            **({"data": data} if data is not None else {})}


def execute(command: str, args: dict, actor: str, node: str, deadline: float,
            ref: str = "") -> dict:
    """The task body on a node's command lane: :func:`run`, unless the
    command is past its deadline or was meant for another node. The node
    settles the command's audit rows (``ref``) itself: the answer is on
    record even when django-q2 could not store the task's result, or
    nobody reads it."""
    answer = _execute(command, args, actor, node, deadline)
    if ref and command in CHANGES:
        settle(ref, node, answer)
    return answer


def _execute(command: str, args: dict, actor: str, node: str, deadline: float) -> dict:
    here = settings.BANGUI_NODE
    if node != here:
        return {"ok": False, "message": f"meant for node {node} but taken by node {here}: "
                                        "not run"}
    late = time.time() - deadline
    if late > 0:
        logger.warning("command %s for node %s dropped: %.1f s past its deadline", command,
                       node, late)
        return {"ok": False, "message": f"dropped: it reached node {node} {late:.0f} s after "
                                        "its deadline"}
    return run(command, args, actor)


def settle(ref: str, node: str, answer: dict) -> int:
    """Write a node's answer on the command's audit rows for that node
    (whatever they said: the node's answer is the truth, also after
    ``settle_unanswered`` gave up on it). Retried while the database is
    busy. A node under its own database role may not write the audit trail
    (nodes/role.py: a compromised host must not rewrite it): then the web's
    poll, the CLI or ``settle_unanswered`` settle it, as they read it."""
    result = audit.OK if answer.get("ok") else audit.FAILED
    detail = str(answer.get("message"))[:2000]
    try:
        return retrying(lambda: AuditEntry.objects.filter(ref=ref, node=node).update(
            result=result, detail=detail), what=f"settling command {ref} on {node}",
            seconds=30)
    except DatabaseError as exc:
        if "permission denied" not in str(exc):
            raise
        return 0
