"""/api/v1/: the JSON API (docs/api.md). Function endpoints, one job each:
parse (ninja's schemas, then the dashboard's own form for the filters),
call one function of an app, answer. Every write goes through the one
dispatch (api/commands.py)."""

from urllib.parse import urlencode

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from ninja import NinjaAPI, Query, Router

from api import archive, commands, errors, idempotency, reads
from api.auth import Bearer, Session, require_write
from api.errors import ApiError
from api.schemas import (
    AuditQuery,
    BanFilters,
    BanPage,
    BanPageQuery,
    BanRequest,
    CommandAnswer,
    Error,
    IgnoreRequest,
    NotificationPage,
    NotificationQuery,
    UnbanRequest,
)
from bangui.clientip import client_ip
from jails.fail2ban import Fail2banError
from jails.fleet.dispatch import targets as node_targets
from jails.live import actions

api = NinjaAPI(
    title="BanGUI API", version="1", urls_namespace="api",
    description="fail2ban's bans, archive and commands for scripts (docs/api.md). "
                "Authorization: Bearer <token> (manage.py api_token create), or the "
                "browser's session with its CSRF token on writes.",
    auth=[Bearer(), Session()], openapi_url="/openapi.json", docs_url=None)
errors.install(api)

ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 429: Error, 503: Error}
# The exports' bodies (not JSON objects: a stream of CSV text or one array).
CSV = {"responses": {"200": {"description": "CSV, a header line first",
                           "content": {"text/csv": {"schema": {"type": "string"}}}}}}
WRITE_ANSWERS = {200: CommandAnswer, 202: CommandAnswer, **ERRORS}

bans = Router(tags=["bans"])
jails_router = Router(tags=["jails"])
commands_router = Router(tags=["commands"])
reads_router = Router(tags=["fleet"])
audit_router = Router(tags=["audit"])
notifications_router = Router(tags=["notifications"])


def _page_url(request: HttpRequest, number: int) -> str:
    query = request.GET.copy()
    query["page"] = str(number)
    return request.build_absolute_uri(f"{request.path}?{urlencode(query, doseq=True)}")


@bans.get("/", response={200: BanPage, **ERRORS}, summary="The ban archive, newest first")
def list_bans(request: HttpRequest, filters: Query[BanPageQuery]):
    f = archive.filters(filters.dict())
    page = archive.page(f)
    return {"count": page.paginator.count, "page": page.number,
            "pages": page.paginator.num_pages, "per_page": f["per_page"],
            "next": _page_url(request, page.number + 1) if page.has_next() else None,
            "previous": _page_url(request, page.number - 1) if page.has_previous() else None,
            "results": [archive.row(ban) for ban in page.object_list]}


def streamed(lines, kind: str, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        lines, content_type="text/csv; charset=utf-8" if kind == "csv" else "application/json")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{kind}"'
    return response


def _export(filters: BanFilters, kind: str) -> StreamingHttpResponse:
    f = archive.filters(filters.dict())
    rows = archive.rows(f)
    lines = archive.csv_lines(rows, archive.FIELDS) if kind == "csv" else archive.json_lines(rows)
    return streamed(lines, kind, f"bans-{f['window']}")


@bans.get("/export.csv", response=ERRORS, openapi_extra=CSV,
          summary="Every ban the filters match, as CSV (streamed)")
def export_csv(request: HttpRequest, filters: Query[BanFilters]):
    return _export(filters, "csv")


@bans.get("/export.json", response={200: list[dict], **ERRORS},
          summary="Every ban the filters match, as one JSON array (streamed)")
def export_json(request: HttpRequest, filters: Query[BanFilters]):
    return _export(filters, "json")


@bans.post("/", response=WRITE_ANSWERS, summary="Ban an address in a jail")
def ban(request: HttpRequest, payload: BanRequest):
    require_write(request)

    def write():
        if not payload.force:
            try:
                reasons = actions.ban_warnings(payload.jail, [payload.ip], client_ip(request),
                                               node_targets(payload.node or ""))
            except Fail2banError:  # bad input: the dispatch refuses it below, audited
                reasons = []
            if reasons:
                raise ApiError(409, "not banned: " + "; ".join(reasons)
                               + '; send "force": true to ban anyway', "confirm")
        return commands.send(request, payload.node, "ban",
                             {"jail": payload.jail, "ips": [payload.ip]})

    return idempotency.once(request, write)


@bans.delete("/", response=WRITE_ANSWERS, summary="Unban an address (one jail or every jail)")
def unban(request: HttpRequest, payload: UnbanRequest):
    require_write(request)
    args = {"ips": [payload.ip], **({"jail": payload.jail} if payload.jail else {})}
    return idempotency.once(request, lambda: commands.send(request, payload.node, "unban", args))


def _jail_command(request: HttpRequest, command: str, jail: str, node: str | None,
                  **args):
    require_write(request, "operate")
    return idempotency.once(request, lambda: commands.send(
        request, node, command, {"jail": jail, **args}, "operate"))


@jails_router.post("/{jail}/unban-all/", response=WRITE_ANSWERS,
                   summary="Unban every address of a jail")
def unban_all(request: HttpRequest, jail: str, node: str | None = None):
    return _jail_command(request, "unbanall", jail, node)


@jails_router.post("/{jail}/start/", response=WRITE_ANSWERS, summary="Start a jail")
def start(request: HttpRequest, jail: str, node: str | None = None):
    return _jail_command(request, "start", jail, node)


@jails_router.post("/{jail}/stop/", response=WRITE_ANSWERS,
                   summary="Stop a jail (its bans are lifted)")
def stop(request: HttpRequest, jail: str, node: str | None = None):
    return _jail_command(request, "stop", jail, node)


@jails_router.post("/{jail}/reload/", response=WRITE_ANSWERS,
                   summary="Reload a jail from its config")
def reload(request: HttpRequest, jail: str, node: str | None = None):
    return _jail_command(request, "reload", jail, node)


@jails_router.post("/{jail}/ignore/", response=WRITE_ANSWERS,
                   summary="Add to a jail's ignore list (until fail2ban reloads)")
def ignore_add(request: HttpRequest, jail: str, payload: IgnoreRequest):
    return _jail_command(request, "ignore", jail, payload.node, value=payload.value)


@jails_router.delete("/{jail}/ignore/", response=WRITE_ANSWERS,
                     summary="Remove from a jail's ignore list")
def ignore_remove(request: HttpRequest, jail: str, payload: IgnoreRequest):
    return _jail_command(request, "ignore", jail, payload.node, value=payload.value,
                         remove=True)


@commands_router.get("/{group}/", response=WRITE_ANSWERS, url_name="command",
                     summary="A command's answers so far (202 while a node is to answer)")
def command(request: HttpRequest, group: str):
    return commands.poll(request, group)


@jails_router.get("/", response={200: dict, **ERRORS},
                  summary="A node's jails: counters and settings (this host's: asked now)")
def jail_list(request: HttpRequest, node: str | None = None):
    return reads.jails(node)


@jails_router.get("/{jail}/bans/", response={200: dict, **ERRORS},
                  summary="A jail's bans now, newest first, a page at a time")
def jail_bans(request: HttpRequest, jail: str, node: str | None = None, q: str = "",
              page: int = Query(1, ge=1), per_page: int = Query(50, ge=1, le=500)):
    return reads.live_bans(jail, node, q, page, per_page)


@reads_router.get("/nodes/", response={200: list[dict], **ERRORS},
                  summary="Every registered node: up, fail2ban, jails, bans now")
def node_list(request: HttpRequest):
    return reads.nodes()


@reads_router.get("/ips/{path:ip}/", response={200: dict, **ERRORS},
                  summary="An address's (or network's) bans: now on every node, and archived")
def ip_detail(request: HttpRequest, ip: str):
    return reads.ip(ip)


@audit_router.get("/", response={200: dict, **ERRORS},
                  summary="The audit trail, newest first, a page at a time")
def audit_list(request: HttpRequest, filters: Query[AuditQuery],
               page: int = Query(1, ge=1), per_page: int = Query(50, ge=1, le=500)):
    return reads.audit_page(filters.dict(), page, per_page)


@audit_router.get("/export.csv", response=ERRORS, openapi_extra=CSV,
                  summary="Every audit row the filters match, as CSV (streamed)")
def audit_csv(request: HttpRequest, filters: Query[AuditQuery]):
    rows = map(reads.audit_row, reads.audit_rows(filters.dict()))
    return streamed(archive.csv_lines(rows, reads.AUDIT_FIELDS), "csv", "audit")


@audit_router.get("/export.json", response={200: list[dict], **ERRORS},
                  summary="Every audit row the filters match, as one JSON array (streamed)")
def audit_json(request: HttpRequest, filters: Query[AuditQuery]):
    rows = map(reads.audit_row, reads.audit_rows(filters.dict()))
    return streamed(archive.json_lines(rows), "json", "audit")


@reads_router.get("/blocklists/", response={200: list[dict], **ERRORS},
                  summary="Every blocklist source with its last import run")
def blocklist_list(request: HttpRequest):
    return reads.blocklists()


@reads_router.get("/blocklists/{int:pk}/runs/", response={200: dict, **ERRORS},
                  url_name="blocklist_runs",
                  summary="A blocklist source's import runs, newest first")
def blocklist_runs(request: HttpRequest, pk: int, page: int = Query(1, ge=1),
                   per_page: int = Query(50, ge=1, le=500)):
    return reads.blocklist_runs(pk, page, per_page)


@notifications_router.get("/", response={200: NotificationPage, **ERRORS},
                          summary="Stored notifications, newest first, with each channel's "
                                  "result")
def notification_list(request: HttpRequest, query: Query[NotificationQuery]):
    current, rows = reads.notifications(query.dict())
    return {"count": current.paginator.count, "page": current.number,
            "pages": current.paginator.num_pages, "per_page": query.per_page,
            "next": _page_url(request, current.number + 1) if current.has_next() else None,
            "previous": (_page_url(request, current.number - 1) if current.has_previous()
                         else None),
            "results": rows}


@reads_router.post("/blocklists/{int:pk}/import/", response={202: dict, **ERRORS},
                   summary="Import a blocklist now (queued to each target node's worker)")
def blocklist_import(request: HttpRequest, pk: int):
    require_write(request, "operate")
    return idempotency.once(request, lambda: commands.import_blocklist(request, pk))


api.add_router("/bans", bans)
api.add_router("", reads_router)
api.add_router("/audit", audit_router)
api.add_router("/notifications", notifications_router)
api.add_router("/jails", jails_router)
api.add_router("/commands", commands_router)
