"""What the API reads besides the archive: fail2ban's jails and live bans
(this host's asked now, another node's as it last published them), the
nodes, one address's history and state, the audit trail. Each is one call
of the function the pages use."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.core.paginator import Paginator
from django.http import QueryDict
from django.utils import timezone

from accounts import audit
from accounts.forms import AuditFilterForm
from accounts.models import AuditEntry
from api.archive import row
from api.errors import ApiError
from bangui.hooks import app_hook
from jails.archive import queries
from jails.fail2ban import Fail2banError
from jails.fleet import live as fleet_live
from jails.live import banned as live_banned
from jails.live import link
from jails.live import state as live_state
from nodes import fleet
from nodes.models import Node

MAX_PER_PAGE = 500
IP_HISTORY_LIMIT = 500


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _node(name: str | None) -> str:
    """``name`` (default: this host's node), if it is this host's or a
    registered node; 404 otherwise."""
    name = name or settings.BANGUI_NODE
    if name != settings.BANGUI_NODE and not Node.objects.filter(name=name).exists():
        raise ApiError(404, f"no node named {name!r} has registered")
    return name


def jails(node: str | None) -> dict:
    """The node's running jails with their counters and main settings."""
    name = _node(node)
    if name != settings.BANGUI_NODE:
        row_ = Node.objects.get(name=name)
        return {"node": name, "live": False, "up": row_.is_up(),
                "as_of": _when(row_.facts_at),
                "jails": [{"name": j, **row_.jail_counts.get(j, {}),
                           "settings": row_.jail_settings.get(j)} for j in row_.jails]}
    client = link.client(connect_retries=0)
    try:
        overview = client.overview()
        out = []
        for status in overview.jails:
            jail = asdict(status)
            jail.pop("banned_ips", None)  # a jail's bans: /jails/{jail}/bans/, a page at a time
            try:
                jail["settings"] = asdict(client.jail_settings(status.name))
            except Fail2banError:
                jail["settings"] = None
            out.append(jail)
    except Fail2banError as exc:
        raise ApiError(503, f"fail2ban is not answering: {exc}", "unavailable") from None
    return {"node": name, "live": True, "up": True, "version": overview.version,
            "as_of": timezone.now().isoformat(), "jails": out}


def live_bans(jail: str, node: str | None, query: str, page: int, per_page: int) -> dict:
    """One page of a jail's bans now, newest first."""
    name = _node(node)
    if name == settings.BANGUI_NODE:
        try:
            result = live_banned.banned_page(jail, query, page, per_page)
        except Fail2banError as exc:
            raise ApiError(400, str(exc)) from None
        current = result.page
        rows = [{"ip": b.ip, "banned_at": _when(b.banned_at), "bantime": b.bantime,
                 "ends_at": _when(b.ends_at)} for b in current.object_list]
    else:
        current = Paginator(fleet_live.banned(name, query).filter(jail=jail),
                            per_page).get_page(page)
        rows = [{"ip": b.ip, "banned_at": _when(b.banned_at), "bantime": b.bantime,
                 "ends_at": _when(b.ends_at)} for b in current.object_list]
    return {"node": name, "jail": jail, "count": current.paginator.count,
            "page": current.number, "pages": current.paginator.num_pages, "results": rows}


def nodes() -> list[dict]:
    now = timezone.now()
    return [{"name": n.name, "labels": n.labels, "up": n.is_up(now),
             "this_host": n.name == settings.BANGUI_NODE,
             "heartbeat_at": _when(n.heartbeat_at), "fail2ban_up": n.fail2ban_up,
             "fail2ban_version": n.fail2ban_version, "jails": n.jails,
             "banned": n.banned(now), "archive_synced_at": _when(n.archive_synced_at)}
            for n in fleet.fleet()]


def ip(address: str) -> dict:
    """An address's (or network's) archived bans, newest first (at most
    IP_HISTORY_LIMIT), and where it is banned now."""
    try:
        canonical = str(ipaddress.ip_network(address.strip(), strict=False)) if "/" in address \
            else str(ipaddress.ip_address(address.strip()))
    except ValueError:
        raise ApiError(400, f"{address!r} is not an IP address or network") from None
    history = queries.filtered(ip_query=canonical).defer("matches").order_by("-banned_at", "-id")
    total = history.count()
    here = live_state.read([canonical])
    now_banned = [{"node": settings.BANGUI_NODE, "jail": jail, "banned_at": _when(e.banned_at),
                   "bantime": e.bantime, "ends_at": _when(e.ends_at)}
                  for jail, e in here.jails_of(canonical)]
    others = fleet_live.states({n.name for n in fleet.fleet()} - {settings.BANGUI_NODE},
                               [canonical])
    for name, state in sorted(others.items()):
        now_banned += [{"node": name, "jail": jail, "banned_at": _when(e.banned_at),
                        "bantime": e.bantime, "ends_at": _when(e.ends_at)}
                       for jail, e in state.jails_of(canonical)]
    return {"ip": canonical, "banned_now": now_banned,
            "live_known": here.reachable and here.known, "count": total,
            "history": [row(b) for b in history[:IP_HISTORY_LIMIT]]}


def _audit_rows(data: dict):
    query = QueryDict(mutable=True)
    for key, value in data.items():
        if value not in (None, ""):
            query[key] = str(value)
    query.setdefault("window", "7d")
    form = AuditFilterForm(query)
    if not form.is_valid():
        raise ApiError(400, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    audit.settle_unanswered()  # as the audit page: no command shows "pending" forever
    return form.filter(AuditEntry.objects.all(), timezone.now()).order_by("-created_at", "-id")


def audit_row(e: AuditEntry) -> dict:
    return {"id": e.pk, "created_at": e.created_at.isoformat(), "actor": e.actor_name,
            "source_ip": e.source_ip, "action": e.action, "target": e.target,
            "result": e.result, "detail": e.detail, "node": e.node, "ref": e.ref}


AUDIT_FIELDS = ("id", "created_at", "actor", "source_ip", "action", "target", "result",
                "detail", "node", "ref")


def audit_page(data: dict, page: int, per_page: int) -> dict:
    current = Paginator(_audit_rows(data), per_page).get_page(page)
    return {"count": current.paginator.count, "page": current.number,
            "pages": current.paginator.num_pages,
            "results": [audit_row(e) for e in current.object_list]}


def audit_rows(data: dict, chunk: int = 2000) -> Iterator[AuditEntry]:
    """Every audit row the filters match, newest first, by keyset chunks."""
    from django.db.models import Q

    base = _audit_rows(data)
    last = None
    while True:
        qs = base if last is None else base.filter(
            Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, id__lt=last.pk))
        rows = list(qs[:chunk])
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]


def notifications(data: dict):
    """One page of stored notifications (the notifications app's
    ``notifications_page`` hook: the API may not import that app).
    Returns (the page, its rows)."""
    page_of = app_hook("notifications_page")
    if page_of is None:
        raise ApiError(404, "notifications are not installed")
    try:
        return page_of(number=data["page"], per_page=data["per_page"], unread=data["unread"],
                       kind=data["kind"], severity=data["severity"])
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _run(run) -> dict:
    return {"id": run.pk, "node": run.node, "status": run.status,
            "started_at": _when(run.started_at), "finished_at": _when(run.finished_at),
            "actor": run.actor, "valid": run.valid, "invalid": run.invalid,
            "duplicates": run.duplicates, "newly_banned": run.newly_banned,
            "already_banned": run.already_banned, "error": run.error}


def blocklists() -> list[dict]:
    """Every blocklist source with its last run (not previews)."""
    from blocklists.models import BlocklistSource, ImportRun

    out = []
    for source in BlocklistSource.objects.order_by("name"):
        last = (ImportRun.objects.filter(source=source).exclude(status=ImportRun.Status.PREVIEW)
                .order_by("-started_at", "-id").first())
        out.append({"id": source.pk, "name": source.name, "url": source.url,
                    "enabled": source.enabled, "interval_minutes": source.interval_minutes,
                    "jail": source.jail, "target_label": source.target_label,
                    "target_nodes": source.target_nodes,
                    "last_run": _run(last) if last else None})
    return out


def blocklist_runs(pk: int, page: int, per_page: int) -> dict:
    """A source's import runs, newest first."""
    from blocklists.models import BlocklistSource, ImportRun

    if not BlocklistSource.objects.filter(pk=pk).exists():
        raise ApiError(404, f"no blocklist source #{pk}")
    runs = (ImportRun.objects.filter(source_id=pk).exclude(status=ImportRun.Status.PREVIEW)
            .order_by("-started_at", "-id"))
    current = Paginator(runs, per_page).get_page(page)
    return {"count": current.paginator.count, "page": current.number,
            "pages": current.paginator.num_pages,
            "results": [_run(r) for r in current.object_list]}
