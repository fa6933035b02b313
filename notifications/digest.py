"""A digest rule's summary of the last finished day or week: bans, the top
jails and countries, the nodes down now, the failed blocklist imports.

Periods follow the configured time zone (Settings, else BANGUI_TIME_ZONE): a
day from midnight to midnight, a week from Monday to Monday. The worker's
minute look (notifications.evaluate) sends each period once, after it is
over; a period that ended before the rule existed is not sent. "Once" is
the database's: the notification carries the period as its claim, unique
per rule, so two workers (a coordinator hand-over mid-look) cannot both
store it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count

from accounts.models import RuntimeSettings
from blocklists.models import ImportRun
from jails.models import BanEvent
from nodes.models import Node
from notifications.models import Rule

TOP = 5  # jails and countries named


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def last_period(period: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The last finished period before ``now``: [start, end)."""
    today = now.astimezone(zone).date()
    if period == Rule.Period.WEEKLY:
        monday = today - timedelta(days=today.weekday())
        return _midnight(monday - timedelta(days=7), zone), _midnight(monday, zone)
    return _midnight(today - timedelta(days=1), zone), _midnight(today, zone)


def claim(rule: Rule, start: datetime) -> str:
    return f"{rule.period}:{start.date().isoformat()}"


def due(rule: Rule, now: datetime) -> tuple[datetime, datetime] | None:
    """The period to send now, or None (not over yet, before the rule, or
    this worker already stored it)."""
    start, end = last_period(rule.period, now, RuntimeSettings.load().zone)
    if end <= rule.created_at or rule.state.get("digest") == claim(rule, start):
        return None
    return start, end


def _n(value: int) -> str:
    return f"{value:,}"


def _top(rows, field: str) -> list[tuple[str, int]]:
    counted = rows.values(field).annotate(n=Count("id")).order_by("-n", field)[:TOP]
    return [(row[field] or "unknown", row["n"]) for row in counted]


def figures(rule: Rule, start: datetime, end: datetime, now: datetime) -> dict:
    bans = BanEvent.objects.filter(banned_at__gte=start, banned_at__lt=end)
    nodes = Node.objects.all()
    runs = ImportRun.objects.filter(status=ImportRun.Status.FAILED, finished_at__gte=start,
                                    finished_at__lt=end)
    if rule.node:
        bans, nodes, runs = (bans.filter(node=rule.node), nodes.filter(name=rule.node),
                             runs.filter(node=rule.node))
    down = sorted(n.name for n in nodes if not n.fail2ban_answers(now))
    failed = list(runs.order_by("finished_at").values_list("source__name", flat=True))
    return {"period": rule.period, "start": start.isoformat(), "end": end.isoformat(),
            "bans": bans.count(), "top_jails": _top(bans, "jail"),
            "top_countries": _top(bans, "country_code"), "nodes_down": down,
            "failed_imports": len(failed),
            "failed_sources": sorted(set(failed))}


def _listed(pairs: list[tuple[str, int]]) -> str:
    return " · ".join(f"{name} {_n(count)}" for name, count in pairs) or "none"


def wording(rule: Rule, start: datetime, facts: dict) -> tuple[str, str]:
    """(title, text) of the digest."""
    where = f"node {rule.node}" if rule.node else "the fleet"
    if rule.period == Rule.Period.WEEKLY:
        span = f"week of {start:%-d %B %Y}"
    else:
        span = f"{start:%A %-d %B %Y}"
    title = (f"{'Weekly' if rule.period == Rule.Period.WEEKLY else 'Daily'} digest, {span}: "
             f"{_n(facts['bans'])} bans")
    failed = facts["failed_imports"]
    lines = [
        f"{_n(facts['bans'])} bans on {where} ({span}).",
        f"Top jails: {_listed(facts['top_jails'])}.",
        f"Top countries: {_listed(facts['top_countries'])}.",
        "Nodes down now: " + (", ".join(facts["nodes_down"]) or "none") + ".",
        f"Failed blocklist imports: {_n(failed)}"
        + (f" ({', '.join(facts['failed_sources'])})" if failed else "") + ".",
    ]
    return title, "\n".join(lines)
