"""The shapes of the API's requests and answers (they make its OpenAPI
schema: /api/v1/openapi.json)."""

from __future__ import annotations

from ninja import Field, Schema


class Error(Schema):
    error: str = Field(description="A short code: invalid, unauthorized, forbidden, "
                                   "not_found, conflict, confirm, not_done, rate_limited …")
    detail: str = Field(description="What went wrong, for a person.")


class BanFilters(Schema):
    """The dashboard's filters (docs/dashboard.md); a bad value is a 400."""

    window: str | None = Field(None, description="24h (default), 7d, 30d or 365d")
    jail: str | None = None
    country: str | None = Field(None, description="ISO code, a country's name or the start "
                                                  "of one, or “unknown”")
    origin: str | None = Field(None, description="detected, manual, blocklist or shared")
    ip: str | None = Field(None, description="an address or network, or the start of one")
    kind: str | None = Field(None, description="permanent or range")
    node: str | None = Field(None, description="one fleet node's bans")
    sort: str | None = Field(None, description="banned_at, ip, jail, country_code, origin, "
                                               "ban_count, bantime or failures; '-' first for "
                                               "descending (default -banned_at)")


class BanPageQuery(BanFilters):
    page: int | None = Field(None, ge=1, description="1-based; past the end: the last page")
    per_page: int | None = Field(None, ge=1, le=500, description="default 50, at most 500")


class Ban(Schema):
    id: int
    node: str
    ip: str
    jail: str
    banned_at: str = Field(description="ISO 8601, UTC")
    bantime: int = Field(description="seconds; -1: permanent")
    ban_count: int
    failures: int
    origin: str
    country_code: str | None
    actor: str | None = Field(description="who banned it through BanGUI")
    unbanned_at: str | None
    unbanned_by: str | None
    shared_from: str | None


class BanPage(Schema):
    count: int = Field(description="bans matching the filters in the window")
    page: int
    pages: int
    per_page: int
    next: str | None = Field(description="the next page's URL")
    previous: str | None
    results: list[Ban]


class BanRequest(Schema):
    jail: str
    ip: str = Field(description="an address or a network (CIDR)")
    node: str | None = Field(None, description="this host's node when left out; '*': every "
                                               "node; '@label': the nodes labelled so")
    force: bool = Field(False, description="ban even an address of the jail's ignore list "
                                           "or the caller's own (otherwise 409 confirm)")


class UnbanRequest(Schema):
    ip: str
    jail: str | None = Field(None, description="left out: from every jail")
    node: str | None = None


class NodeAnswer(Schema):
    node: str
    ok: bool
    pending: bool
    message: str


class CommandAnswer(Schema):
    ok: bool
    message: str
    group: str = Field(description="the command's ticket (its audit rows' ref)")
    pending: list[str] = Field(description="nodes still to answer")
    nodes: list[NodeAnswer]
    poll: str = Field(description="GET it for the answers so far")


class IgnoreRequest(Schema):
    value: str = Field(description="an address, network or host name")
    node: str | None = None


class NotificationQuery(Schema):
    unread: bool = Field(False, description="only those nobody marked read")
    kind: str | None = Field(None, description="a rule kind (threshold, spike, watched, "
                                               "node_down, digest …) or test")
    severity: str | None = Field(None, description="info, warning or critical")
    page: int = Field(1, ge=1, description="1-based; past the end: the last page")
    per_page: int = Field(50, ge=1, le=500, description="default 50, at most 500")


class DeliveryOut(Schema):
    channel: str
    result: str = Field(description="pending, delivered, failed or skipped_quiet")
    detail: str = Field(description="why it failed, or until when it was quiet")
    attempts: int
    updated_at: str


class NotificationOut(Schema):
    id: int
    created_at: str = Field(description="ISO 8601, UTC")
    rule: str | None = Field(description="the rule's name (null: a channel's test)")
    kind: str | None
    severity: str
    title: str
    text: str
    suppressed: int = Field(description="triggers its rule's quiet period held back before it")
    read: bool
    facts: dict = Field(description="the figures, as in the signed webhook's payload")
    deliveries: list[DeliveryOut] = Field(description="each channel's result")


class NotificationPage(Schema):
    count: int
    page: int
    pages: int
    per_page: int
    next: str | None
    previous: str | None
    results: list[NotificationOut]


class AuditQuery(Schema):
    """The audit page's filters."""

    actor: str | None = Field(None, description="part of the actor's name")
    action: str | None = Field(None, description="ban, unban, jail.stop, login …")
    window: str | None = Field(None, description="24h, 7d (default), 30d, 365d or all")
    result: str | None = Field(None, description="ok, failed or pending")
    node: str | None = None
