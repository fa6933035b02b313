"""The ban archive as the API reads it: the dashboard's filters (its own
form, jails.forms.dashboard), one page of rows, or every row streamed
(exports) a chunk at a time, never all in memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django import forms
from django.db.models import Q
from django.http import QueryDict

from api.errors import ApiError
from jails.archive import queries
from jails.constants import BAN_TABLE_MAX_PER_PAGE
from jails.forms.dashboard import BanTableFilterForm
from jails.models import BanEvent

EXPORT_CHUNK = 2000
# The fields of a ban, in this order in the JSON rows and the CSV columns.
FIELDS = ("id", "node", "ip", "jail", "banned_at", "bantime", "ban_count", "failures",
          "origin", "country_code", "actor", "unbanned_at", "unbanned_by", "shared_from")


class Filters(BanTableFilterForm):
    """The dashboard's filters, but any page size up to the archive's
    limit; the API refuses a bad value (400) where the page ignores it."""

    per_page = forms.IntegerField(min_value=1, max_value=BAN_TABLE_MAX_PER_PAGE, required=False)


def filters(data: dict) -> dict:
    """The cleaned filters of ``data`` (query parameters); 400 for a bad one."""
    query = QueryDict(mutable=True)
    for key, value in data.items():
        if value is not None:
            query[key] = str(value)
    form = Filters(query)
    if not form.is_valid():
        raise ApiError(400, "; ".join(f"{name}: {' '.join(errors)}"
                                       for name, errors in form.errors.items()))
    return form.values()[0]


def scope(f: dict) -> dict:
    """The filters as jails.archive.queries takes them (empty: None)."""
    return {"jail": f["jail"] or None, "country": f["country"] or None,
            "origin": f["origin"] or None, "ip_query": f["ip"] or None,
            "kind": f["kind"] or None, "node": f["node"] or None}


def row(ban: BanEvent) -> dict:
    return {"id": ban.pk, "node": ban.node, "ip": ban.ip, "jail": ban.jail,
            "banned_at": ban.banned_at.isoformat(), "bantime": ban.bantime,
            "ban_count": ban.ban_count, "failures": ban.failures, "origin": ban.origin,
            "country_code": ban.country_code, "actor": ban.actor,
            "unbanned_at": ban.unbanned_at.isoformat() if ban.unbanned_at else None,
            "unbanned_by": ban.unbanned_by, "shared_from": ban.shared_from}


def page(f: dict):
    """One page of the ban table (a Django Page), as the dashboard reads it."""
    return queries.ban_table(f["window"], **scope(f), sort=f["sort"], page=f["page"],
                             per_page=f["per_page"])


def rows(f: dict) -> Iterator[dict]:
    """Every ban the filters match, newest first, as :func:`row` dicts,
    read in chunks of EXPORT_CHUNK by keyset ((banned_at, id) below the
    last one seen): each chunk is one short query on the banned_at index,
    no cursor stays open between them, and no model is built per row."""
    base = queries.events(f["window"], **scope(f)).order_by("-banned_at", "-id").values_list(
        *FIELDS)
    at, pk = FIELDS.index("banned_at"), FIELDS.index("id")
    dates = (at, FIELDS.index("unbanned_at"))
    last = None
    while True:
        qs = base if last is None else base.filter(
            Q(banned_at__lt=last[at]) | Q(banned_at=last[at], id__lt=last[pk]))
        chunk = list(qs[:EXPORT_CHUNK])
        for values in chunk:
            data = dict(zip(FIELDS, values, strict=True))
            for i in dates:
                if values[i] is not None:
                    data[FIELDS[i]] = values[i].isoformat()
            yield data
        if len(chunk) < EXPORT_CHUNK:
            return
        last = chunk[-1]


def _cell(value) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula
    # (CSV injection): an actor's or a jail's name is text here.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not text.lstrip("-").isdigit() \
        else text


def csv_lines(dicts: Iterator[dict], fields: tuple[str, ...]) -> Iterator[str]:
    """CSV text of ``dicts`` (a header of ``fields`` first), a few hundred
    rows per piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for count, data in enumerate(dicts, 1):
        writer.writerow([_cell(data[name]) for name in fields])
        if count % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_lines(dicts: Iterator[dict]) -> Iterator[str]:
    """One JSON array, a row per line."""
    yield "[\n"
    first = True
    for data in dicts:
        yield ("" if first else ",\n") + json.dumps(data, separators=(",", ":"))
        first = False
    yield "\n]\n"
