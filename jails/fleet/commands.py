"""Commands to a fail2ban, run where that fail2ban is (docs/fleet.md).

One vocabulary (:data:`COMMANDS`) for both ways a command reaches fail2ban:
:func:`run_here` runs it against this process's fail2ban (``manage.py f2b``
without ``--node``), and :func:`send` queues it to each chosen node's task
cluster (django-q2 ``cluster=`` the node's queue), where :func:`execute`
runs the same function. The sender waits a bounded time
(``BANGUI_COMMAND_WAIT_SECONDS``) for every node's answer and says which did
not answer. A command carries a deadline (``BANGUI_COMMAND_DEADLINE_SECONDS``
after it was sent): a node that takes it later (its worker was busy, down,
or cut off) drops it instead of running a stale ban. A node that is down
(no fresh heartbeat) or unknown is not sent anything: its reply says so at
once.

Wall-clock deadlines assume the hosts' clocks agree (NTP), as the leases do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from bangui import nodename
from bangui.nodes import fleet
from jails import health
from jails.fail2ban import Fail2banError, InvalidInput, validation
from jails.live import actions, link

logger = logging.getLogger(__name__)

TASK = "jails.fleet.commands.execute"
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Reply:
    node: str
    ok: bool
    message: str
    pending: bool = False  # queued, but no answer within the wait
    data: dict | None = None  # a command's structured answer (regex), beside its words


# -- the vocabulary: each takes validated keyword arguments and the actor, and
# returns one line (or a few) for a person --------------------------------------
def _ban(*, jail: str, ips: list[str], actor: str) -> str:
    count = actions.ban(jail, ips, actor)
    return f"banned {count} new of {len(ips)} in {jail}"


def _unban(*, ips: list[str], actor: str, jail: str | None = None) -> str:
    count = actions.unban(ips, actor, jail)
    return f"unbanned {count} from {jail or 'all jails'}"


def _start(*, jail: str, actor: str) -> str:
    link.cli().start_jail(jail)
    return f"started {jail}"


def _stop(*, jail: str, actor: str) -> str:
    lifted = actions.stop_jail(jail, actor)
    return f"stopped {jail}; {lifted} bans lifted"


def _reload(*, actor: str, jail: str | None = None) -> str:
    link.cli().reload(jail)
    return f"reloaded {jail or 'all jails'}"


def _unbanall(*, jail: str, actor: str) -> str:
    count = actions.unban_all(jail, actor)
    return f"unbanned {count} from {jail}"


def _ignore(*, jail: str, value: str, actor: str, remove: bool = False) -> str:
    client = link.client()
    if remove:
        client.remove_ignore(jail, value)
        return f"{jail} no longer ignores {value}"
    client.add_ignore(jail, value)
    return f"{jail} now ignores {value} (until fail2ban reloads)"


REGEX_MAX_LINES = 2000  # per list (matched, ignored, missed) in a node's answer


def _regex(*, actor: str, **test) -> tuple[str, dict]:
    """fail2ban-regex on this node (its filter.d, its log files): the
    regex tester's run, its lists clipped for the answer's size."""
    from dataclasses import asdict

    from jails.config import regex

    try:
        result = regex.run(user=actor, **test)
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
    from jails.config import files

    listing = files.listing()
    return f"{sum(len(v) for v in listing.values())} config files", {"files": listing}


def _file_answer(current) -> dict:
    return {"rel": current.rel, "text": current.text, "link": current.link}


def _config_read(*, path: str, actor: str) -> tuple[str, dict]:
    from jails.config import files

    try:
        current = files.read(path)
    except files.ConfigError as exc:
        raise InvalidInput(str(exc)) from None
    return f"read {current.rel}", _file_answer(current)


def _config_save(*, path: str, text: str, expected: str, actor: str) -> tuple[str, dict]:
    """The config transaction on this node: write, ``fail2ban-client -t``,
    reload, roll back on failure (jails.config.files.apply). A stale edit
    answers the saved version, so the editor can show the difference."""
    from dataclasses import asdict

    from jails.config import files

    try:
        outcome = files.save(path, text, expected)
    except files.StaleEdit as exc:
        return str(exc), {"stale": {"current": exc.current, "current_hash": exc.current_hash,
                                    "attempted": exc.attempted}}
    except files.ConfigError as exc:
        raise InvalidInput(str(exc)) from None
    return outcome.message, {"outcome": asdict(outcome),
                             "file": _file_answer(files.read(path))}


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
    "stop": _stop, "reload": _reload, "status": _status, "regex": _regex,
    "config_list": _config_list, "config_read": _config_read, "config_save": _config_save,
}
# Commands that change something (audited by the caller); the others only read.
CHANGES = frozenset(COMMANDS) - {"status", "regex", "config_list", "config_read"}
CONFIG_FIELDS = {"path": 300, "text": 512 * 1024 + 1, "expected": 64}
REGEX_FIELDS = {"lines": 1024 * 1024, "log_path": 500, "filter_name": 100,
                "failregex": 20000, "ignoreregex": 20000, "datepattern": 200}


def clean(command: str, args: dict) -> dict:
    """The arguments validated before anything is sent anywhere (InvalidInput
    says what is wrong): a bad jail or IP never reaches a queue."""
    if command not in COMMANDS:
        raise InvalidInput(f"unknown command {command!r}; one of: {', '.join(sorted(COMMANDS))}")
    out = dict(args)
    if out.get("jail") is not None:
        out["jail"] = validation.jail_name(out["jail"])
    if "ips" in out:
        out["ips"] = validation.ip_addresses(out["ips"])
        if not out["ips"]:
            raise InvalidInput("no IP address given")
    if command in ("unbanall", "ignore") and not out.get("jail"):
        raise InvalidInput(f"{command} needs a jail")
    if command == "ignore":
        out["value"] = validation.ip_or_network(str(out.get("value", "")))
        out["remove"] = bool(out.get("remove", False))
    if command in ("config_read", "config_save"):
        wanted = {"path"} if command == "config_read" else set(CONFIG_FIELDS)
        if set(out) != wanted:
            raise InvalidInput(f"{command} takes {', '.join(sorted(wanted))}")
        for key in wanted:
            if not isinstance(out[key], str) or len(out[key]) > CONFIG_FIELDS[key]:
                raise InvalidInput(f"{key}: text of at most {CONFIG_FIELDS[key]} characters")
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


def run_here(command: str, args: dict, actor: str) -> str:
    """Run ``command`` against this process's fail2ban; raises Fail2banError.
    Its words (a command with a structured answer: see :func:`answer`)."""
    return answer(command, args, actor)[0]


def answer(command: str, args: dict, actor: str) -> tuple[str, dict | None]:
    """Run ``command`` here: its words and its structured answer (None for
    the commands that have only words)."""
    out = COMMANDS[command](actor=actor, **clean(command, args))
    return out if isinstance(out, tuple) else (out, None)


def execute(command: str, args: dict, actor: str, node: str, deadline: float) -> dict:
    """The task body on the node: run the command unless it is past its
    deadline or was meant for another node. Never raises: the sender reads
    ``{"ok": ..., "message": ...}``."""
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
    try:
        message, data = answer(command, args, actor)
        if command in CHANGES:  # the next heartbeat re-reads the jails' settings
            health.forget_jail_settings()
        return {"ok": True, "message": message, **({"data": data} if data is not None else {})}
    except Fail2banError as exc:
        return {"ok": False, "message": str(exc)}
    except Exception:  # the sender must hear something
        logger.exception("command %s failed on node %s", command, node)
        return {"ok": False, "message": f"failed on node {node}: see its worker's log"}


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def send(nodes: list[str], command: str, args: dict, actor: str, *,
         wait: float | None = None, deadline_seconds: float | None = None) -> list[Reply]:
    """Queue ``command`` to every node in ``nodes`` and wait (bounded) for
    their answers; one Reply per node, in order. Raises InvalidInput for bad
    arguments (nothing sent)."""
    from django_q.models import Task
    from django_q.tasks import async_task

    args = clean(command, args)
    wait = settings.BANGUI_COMMAND_WAIT_SECONDS if wait is None else wait
    deadline = time.time() + (settings.BANGUI_COMMAND_DEADLINE_SECONDS
                              if deadline_seconds is None else deadline_seconds)
    states = {s.name: s for s in fleet()}
    replies: dict[str, Reply] = {}
    pending: dict[str, str] = {}  # task id -> node
    for node in dict.fromkeys(nodes):
        state = states.get(node)
        if state is None:
            replies[node] = Reply(node, False, f"no node named {node!r} has registered")
        elif not state.up:
            since = (f" since {state.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
                     if state.heartbeat_at else "")
            replies[node] = Reply(node, False, f"node {node} is down (no heartbeat{since}): "
                                               "not sent")
        else:
            task_id = async_task(TASK, command, args, actor, node, deadline,
                                 cluster=nodename.queue(node),
                                 task_name=f"{command} on {node}")
            pending[task_id] = node
    give_up = time.monotonic() + wait
    while pending:
        for task_id, result in Task.objects.filter(id__in=list(pending)).values_list(
                "id", "result"):
            node = pending.pop(task_id)
            if isinstance(result, dict):
                data = result.get("data")
                replies[node] = Reply(node, bool(result.get("ok")), str(result.get("message")),
                                      data=data if isinstance(data, dict) else None)
            else:  # killed by the task timeout, or a result we did not write
                replies[node] = Reply(node, False, f"failed on node {node}: see its worker's log")
        if not pending or time.monotonic() >= give_up:
            break
        time.sleep(POLL_SECONDS)
    for node in pending.values():
        replies[node] = Reply(node, False, f"no answer from node {node} within {wait:g} s; "
                                           f"it will not run after {_when(deadline)}",
                              pending=True)
    return [replies[n] for n in dict.fromkeys(nodes)]


def all_nodes() -> list[str]:
    """Every registered node's name (``--all-nodes``, ban everywhere)."""
    return [s.name for s in fleet()]


def labelled(label: str) -> list[str]:
    """The registered nodes carrying ``label`` (``--label``, "every node
    labelled …"); labels are set in Django admin → Nodes."""
    return [s.name for s in fleet() if label in s.labels]


def labels() -> list[str]:
    """Every label some registered node carries."""
    return sorted({label for s in fleet() for label in s.labels})


def regex_on(node: str, test: dict, actor: str):
    """The regex tester's run by ``node``'s worker (its filter.d, its log
    files), within the bounded wait, as a ``jails.config.regex.Result``;
    TesterError with the node's reason when it was not run."""
    from jails.config import regex

    reply = send([node], "regex", test, actor)[0]
    if not reply.ok or reply.data is None:
        raise regex.TesterError(f"on {node}: {reply.message}")
    data = reply.data
    return regex.Result(
        matched=[regex.Match(m["line"], list(m["hosts"])) for m in data["matched"]],
        ignored=list(data["ignored"]), missed=list(data["missed"]), total=int(data["total"]),
        truncated=bool(data["truncated"]), source=f"{data['source']} on {node}",
        clipped=bool(data.get("clipped")))
