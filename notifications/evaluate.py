"""Once a minute: look at each enabled rule, store what it has to say, send it.

Every rule is an aggregate over what the database already holds; nothing
here asks fail2ban:

- **threshold** / **spike** count archived bans (``BanEvent``) whose
  ``banned_at`` falls in the window (spike: against the window before).
  A fail2ban restart writes no ban rows (restored bans are marked
  ``restored`` and fail2ban does not put them into its database again), a
  re-read of fail2ban's file inserts nothing (the archive's unique key), an
  unban-all removes rows from nobody's count: none of them can trigger.
- **watched** matches only rows archived since the last look
  (``created_at`` after the cursor) of bans made by fail2ban or by
  BanGUI (origin detected or manual, not blocklist imports or shared copies)
  and started recently (``banned_at`` within :data:`WATCH_SLACK` of the
  cursor): a backfill of old history is not news. All matches of one look
  make one message.
- **node_down** compares each node's state (``Node.is_up()`` and its
  fail2ban's last answer) with the last look's: one message for what went
  down, one for what came back (first sight is remembered, not told).
- **import_failed** / **config_rolled_back** / **config_refused** /
  **logins_locked_out** read blocklist import runs and audit rows since the
  cursor (the config transaction and django-axes' lockout signal write
  those rows: nothing new is raised for notifications).
- **archive_behind** compares each up node's last archive sync (published by
  its worker) with N minutes, told and cleared as node_down's states are.
- **watched** also matches countries and ASNs (notifications.watch).
- **digest** sums up the last day or week once it is over
  (notifications.digest), claimed in the database so it is stored once.

Quiet period: a rule's message on a topic ("down" and "up" are separate
topics of a node_down rule; the other kinds have one) opens a quiet period;
a trigger inside it is stored with every channel "skipped (quiet period)"
and counted into the next message sent.

Runs fleet-wide (the coordinator only, ``bangui.schedules.run_fleet_wide``),
so one node sends each message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.tasks import async_task

from accounts.models import AuditEntry
from blocklists.models import ImportRun
from jails.constants import Origin
from jails.models import BanEvent
from nodes import nodename
from nodes.models import Node
from notifications import digest, transports, watch
from notifications.models import Channel, Delivery, Notification, Rule

log = logging.getLogger(__name__)

WATCH_SLACK = timedelta(minutes=15)
RETENTION = timedelta(days=90)  # stored notifications (and their deliveries) kept this long
WATCH_MAX_LISTED = 20  # addresses named in one message; the rest are counted
LISTED = 10  # audit rows (config changes, lockouts) named in one message
# A rule in its quiet period is looked at this often by the tick (the minute
# schedule's pace), not every few seconds.
LOOK_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Trigger:
    title: str
    text: str
    topic: str = "default"
    facts: dict | None = None
    # A digest's period: stored at most once per rule (the database's unique
    # claim), never held by the quiet period.
    claim: str = ""


def _iso(value: datetime) -> str:
    return value.isoformat()


def _cursor(rule: Rule) -> datetime:
    raw = rule.state.get("cursor")
    return (parse_datetime(raw) if raw else None) or rule.created_at


def _bans(rule: Rule):
    rows = BanEvent.objects.all()
    return rows.filter(node=rule.node) if rule.node else rows


def _where(rule: Rule) -> str:
    return f" on {rule.node}" if rule.node else " across the fleet"


def _threshold(rule: Rule, now: datetime) -> list[Trigger]:
    window = timedelta(minutes=rule.window_minutes)
    count = _bans(rule).filter(banned_at__gt=now - window, banned_at__lte=now).count()
    if count <= rule.threshold:
        return []
    return [Trigger(f"{count} bans in {rule.window_minutes} min{_where(rule)}",
                    f"{count} bans in the last {rule.window_minutes} minutes{_where(rule)} "
                    f"(the rule allows {rule.threshold}).",
                    facts={"bans": count, "window_minutes": rule.window_minutes})]


def _spike(rule: Rule, now: datetime) -> list[Trigger]:
    window = timedelta(minutes=rule.window_minutes)
    bans = _bans(rule)
    current = bans.filter(banned_at__gt=now - window, banned_at__lte=now).count()
    previous = bans.filter(banned_at__gt=now - 2 * window, banned_at__lte=now - window).count()
    if current < max(rule.threshold, 1) or current * 100 <= previous * rule.percent:
        return []
    versus = (f"{round(current * 100 / previous)}% of the {previous} before" if previous
              else "none the window before")
    return [Trigger(f"Ban spike{_where(rule)}: {current} in {rule.window_minutes} min",
                    f"{current} bans in the last {rule.window_minutes} minutes{_where(rule)}, "
                    f"{versus} (the rule: above {rule.percent}%).",
                    facts={"bans": current, "previous": previous,
                           "window_minutes": rule.window_minutes})]


def _watched(rule: Rule, now: datetime) -> list[Trigger]:
    watchlist = watch.parse(rule.watched)
    if not watchlist:
        return []
    since = _cursor(rule)
    rows = list(_bans(rule).filter(created_at__gt=since, created_at__lte=now,
                                   banned_at__gt=since - WATCH_SLACK,
                                   origin__in=[Origin.DETECTED, Origin.MANUAL])
                .values_list("ip", "jail", "node", "country_code").order_by("created_at"))
    found = watch.matches(watchlist, ((ip, country) for ip, _, _, country in rows))
    hits = [f"{ip} in {jail} on {node}" + (f" ({found[ip]})" if found[ip] else "")
            for ip, jail, node, _ in rows if ip in found]
    if not hits:
        return []
    listed = "; ".join(hits[:WATCH_MAX_LISTED])
    more = f" and {len(hits) - WATCH_MAX_LISTED} more" if len(hits) > WATCH_MAX_LISTED else ""
    return [Trigger(f"Watched address banned: {hits[0].split(' ')[0]}"
                    + (f" (+{len(hits) - 1})" if len(hits) > 1 else ""),
                    f"Banned: {listed}{more}.", facts={"bans": len(hits)})]


def _node_down(rule: Rule, now: datetime) -> list[Trigger]:
    nodes = Node.objects.filter(name=rule.node) if rule.node else Node.objects.all()
    known = dict(rule.state.get("nodes", {}))
    went_down, came_up = [], []
    for node in nodes:
        if not node.is_up(now):
            state, why = "down", f"{node.name} (its worker stopped answering)"
        elif not node.fail2ban_up:
            state, why = "down", f"fail2ban on {node.name} (not answering)"
        else:
            state, why = "up", node.name
        before = known.get(node.name)
        known[node.name] = state
        if before is None or before == state:
            continue
        (went_down if state == "down" else came_up).append(why)
    rule.state["nodes"] = known
    triggers = []
    if went_down:
        triggers.append(Trigger(f"Down: {', '.join(went_down)}",
                                f"Down: {', '.join(went_down)}.", topic="down",
                                facts={"down": went_down}))
    if came_up:
        triggers.append(Trigger(f"Back up: {', '.join(came_up)}",
                                f"Back up: {', '.join(came_up)}.", topic="up",
                                facts={"up": came_up}))
    return triggers


def _import_failed(rule: Rule, now: datetime) -> list[Trigger]:
    runs = ImportRun.objects.filter(status=ImportRun.Status.FAILED,
                                    finished_at__gt=_cursor(rule), finished_at__lte=now)
    if rule.node:
        runs = runs.filter(node=rule.node)
    failed = [f"{run.source.name} on {run.node or 'this host'}: {run.error or 'failed'}"
              for run in runs.select_related("source").order_by("finished_at")[:20]]
    if not failed:
        return []
    return [Trigger(f"Blocklist import failed: {failed[0].split(' on ')[0]}"
                    + (f" (+{len(failed) - 1})" if len(failed) > 1 else ""),
                    "Failed: " + "; ".join(failed), facts={"failed": len(failed)})]


def _audit_since(rule: Rule, now: datetime, which: Q):
    rows = AuditEntry.objects.filter(which, created_at__gt=_cursor(rule), created_at__lte=now)
    return rows.filter(node=rule.node) if rule.node else rows


def _config_changes(rule: Rule, now: datetime, which: Q, title: str) -> list[Trigger]:
    rows = _audit_since(rule, now, which)
    found = [f"{row.action} {row.target} by {row.actor_name}"
             + (f" on {row.node}" if row.node else "") + f": {row.detail[:300]}"
             for row in rows.order_by("created_at")[:LISTED]]
    if not found:
        return []
    return [Trigger(title + (f" (+{len(found) - 1})" if len(found) > 1 else ""),
                    "\n".join(found), facts={"changes": len(found)})]


# The config transaction's audit rows (jails.config.files.apply, through the
# config views): a rollback says "rolled it back"; any other failed config.*
# row was refused before fail2ban ran it (the check, a stale edit, a bad form).
ROLLED_BACK = Q(detail__contains="rolled it back")
REFUSED = Q(action__startswith="config", result=AuditEntry.Result.FAILED) & ~ROLLED_BACK


def _config_rolled_back(rule: Rule, now: datetime) -> list[Trigger]:
    return _config_changes(rule, now, ROLLED_BACK, "Config change rolled back")


def _config_refused(rule: Rule, now: datetime) -> list[Trigger]:
    return _config_changes(rule, now, REFUSED, "Config change refused")


def _logins_locked_out(rule: Rule, now: datetime) -> list[Trigger]:
    """django-axes' lockouts, as accounts.signals audits them ("lockout",
    target user:NAME, the request's address). axes signals again for every
    attempt while locked: one name and address is one lockout."""
    rows = _audit_since(rule, now, Q(action="lockout")).order_by("created_at")
    pairs = dict.fromkeys(rows.values_list("target", "source_ip"))
    count = len(pairs)
    if not count:
        return []
    named = [f"{target.removeprefix('user:') or '(no name)'} from "
             f"{source_ip or 'an unknown address'}" for target, source_ip in list(pairs)[:LISTED]]
    more = f" and {count - LISTED} more" if count > LISTED else ""
    return [Trigger(f"Login{'s' if count > 1 else ''} locked out: {named[0]}"
                    + (f" (+{count - 1})" if count > 1 else ""),
                    f"Locked out after too many failed logins: {'; '.join(named)}{more}.",
                    facts={"lockouts": count})]


def _archive_behind(rule: Rule, now: datetime) -> list[Trigger]:
    """Up nodes whose archive sync is more than N (window) minutes old; a
    down node is node_down's news. Told when it falls behind and when it
    catches up, like node_down."""
    limit = timedelta(minutes=rule.window_minutes).total_seconds()
    nodes = Node.objects.filter(name=rule.node) if rule.node else Node.objects.all()
    known = dict(rule.state.get("archive", {}))
    behind, caught_up = [], []
    for node in nodes:
        lag = node.archive_lag(now)
        if lag is None or not node.is_up(now):
            continue
        state = "behind" if lag > limit else "current"
        before, known[node.name] = known.get(node.name, "current"), state
        if state != before:
            (behind if state == "behind" else caught_up).append((node.name, lag))
    rule.state["archive"] = known
    triggers = []
    if behind:
        named = ", ".join(f"{name} ({round(lag / 60)} min)" for name, lag in behind)
        triggers.append(Trigger(
            f"Archive behind: {named}",
            f"The ban archive of {named} has not synced for more than "
            f"{rule.window_minutes} minutes: pages and the API miss newer bans.",
            topic="behind", facts={"behind": [name for name, _ in behind],
                                   "minutes": rule.window_minutes}))
    if caught_up:
        named = ", ".join(name for name, _ in caught_up)
        triggers.append(Trigger(f"Archive caught up: {named}",
                                f"The ban archive of {named} is current again.",
                                topic="current", facts={"current": named.split(", ")}))
    return triggers


def _digest(rule: Rule, now: datetime) -> list[Trigger]:
    period = digest.due(rule, now)
    if period is None:
        return []
    start, end = period
    facts = digest.figures(rule, start, end, now)
    title, text = digest.wording(rule, start, facts)
    rule.state["digest"] = digest.claim(rule, start)
    return [Trigger(title, text, topic="digest", facts=facts, claim=digest.claim(rule, start))]


CHECKS: dict[str, Callable[[Rule, datetime], list[Trigger]]] = {
    Rule.Kind.THRESHOLD: _threshold,
    Rule.Kind.SPIKE: _spike,
    Rule.Kind.WATCHED: _watched,
    Rule.Kind.NODE_DOWN: _node_down,
    Rule.Kind.IMPORT_FAILED: _import_failed,
    Rule.Kind.CONFIG_ROLLED_BACK: _config_rolled_back,
    Rule.Kind.CONFIG_REFUSED: _config_refused,
    Rule.Kind.LOGINS_LOCKED_OUT: _logins_locked_out,
    Rule.Kind.ARCHIVE_BEHIND: _archive_behind,
    Rule.Kind.DIGEST: _digest,
}


def payload(notification: Notification) -> dict:
    """The signed webhook's body (docs/notifications.md, "Payload")."""
    return {
        "event": "test" if not notification.kind else "notification",
        "id": notification.pk,
        "rule": notification.rule_name or None,
        "kind": notification.kind or None,
        "severity": notification.severity,
        "title": notification.title,
        "text": notification.text,
        "suppressed": notification.suppressed,
        "created_at": notification.created_at.isoformat(),
        "facts": notification.facts,
    }


def _store(rule: Rule, trigger: Trigger, now: datetime) -> Notification | None:
    """Store the trigger's notification; its deliveries are pending, or
    skipped when the topic is in its quiet period (then counted). None when
    the trigger's claim is taken: another worker stored it."""
    sent = rule.state.setdefault("sent", {})
    held = rule.state.setdefault("suppressed", {})
    last = parse_datetime(sent[trigger.topic]) if trigger.topic in sent else None
    quiet = (not trigger.claim and last is not None
             and now < last + timedelta(minutes=rule.quiet_minutes))
    channels = list(rule.channels.filter(enabled=True))
    suppressed = 0 if quiet else held.get(trigger.topic, 0)
    text = trigger.text
    if suppressed:
        text += (f"\n({suppressed} more trigger{'s' if suppressed > 1 else ''} of this rule "
                 "held back by its quiet period since the last message.)")
    try:
        with transaction.atomic():  # a savepoint: a taken claim leaves the look going
            notification = Notification.objects.create(
                rule=rule, rule_name=rule.name, kind=rule.kind, severity=rule.severity,
                title=trigger.title[:200], text=text, suppressed=suppressed, created_at=now,
                facts=trigger.facts or {}, claim=trigger.claim)
    except IntegrityError:
        if not trigger.claim:
            raise
        log.info("rule %s: %s was stored by another worker", rule.name, trigger.claim)
        return None
    result = Delivery.Result.SKIPPED_QUIET if quiet else Delivery.Result.PENDING
    detail = (f"quiet until {(last + timedelta(minutes=rule.quiet_minutes)).isoformat()}"
              if quiet else "")
    Delivery.objects.bulk_create([
        Delivery(notification=notification, channel=channel, channel_name=channel.name,
                 result=result, detail=detail, updated_at=now) for channel in channels])
    if quiet:
        held[trigger.topic] = held.get(trigger.topic, 0) + 1
    else:
        sent[trigger.topic] = _iso(now)
        held[trigger.topic] = 0
    return notification


def _due(rule: Rule, now: datetime) -> bool:
    """Whether the tick looks at ``rule`` now: always, unless one of its
    topics is in its quiet period; then once a minute (a trigger in the
    quiet period is counted, as the minute schedule always did, not every
    few seconds)."""
    if now - _cursor(rule) >= LOOK_EVERY:
        return True
    quiet = timedelta(minutes=rule.quiet_minutes)
    return not any(now < parse_datetime(at) + quiet
                   for at in rule.state.get("sent", {}).values())


def check_rules(now: datetime | None = None, *, tick: bool = False) -> list[Notification]:
    """Evaluate every enabled rule once (``tick``: those :func:`_due`);
    store what they say (not sent yet). Each rule is read again under a
    row lock (PostgreSQL; SQLite's writers take turns at BEGIN IMMEDIATE),
    so the tick and the minute schedule never look at it twice from the
    same cursor."""
    stored = []
    for pk in Rule.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            rule = Rule.objects.select_for_update().filter(pk=pk, enabled=True).first()
            when = now or timezone.now()
            if rule is None or (tick and not _due(rule, when)):
                continue
            try:
                with transaction.atomic():  # a savepoint: a failed check leaves the others
                    triggers = CHECKS[rule.kind](rule, when)
            except Exception:  # one broken rule must not silence the others
                log.exception("notification rule %s failed to evaluate", rule.name)
                continue
            told = (_store(rule, trigger, when) for trigger in triggers)
            stored += [notification for notification in told if notification is not None]
            rule.state["cursor"] = _iso(when)
            Rule.objects.filter(pk=rule.pk).update(state=rule.state)
    return stored


def send_pending(*, sleep: Callable[[float], None] = time.sleep) -> int:
    """Send every pending delivery (claimed first, so a second worker or a
    re-run never sends one twice); returns how many were sent."""
    sent = 0
    for delivery in (Delivery.objects.filter(result=Delivery.Result.PENDING)
                     .select_related("notification", "channel").order_by("pk")):
        claimed = Delivery.objects.filter(pk=delivery.pk, result=Delivery.Result.PENDING,
                                          attempts=delivery.attempts).update(
            attempts=delivery.attempts + 1, updated_at=timezone.now())
        if not claimed:
            continue
        send_delivery(delivery, sleep=sleep)
        sent += 1
    return sent


def send_delivery(delivery: Delivery, *,
                  sleep: Callable[[float], None] = time.sleep) -> Delivery:
    notification, channel = delivery.notification, delivery.channel
    if channel is None:
        outcome = transports.Outcome(False, "the channel was removed", 0)
    else:
        try:
            url = channel.url
        except Exception as exc:
            outcome = transports.Outcome(False, str(exc), 0)
        else:
            message = transports.Message(
                notification.title, notification.text, notification.severity,
                payload(notification))
            outcome = transports.deliver(url, message, sleep=sleep)
    delivery.result = (Delivery.Result.DELIVERED if outcome.delivered
                       else Delivery.Result.FAILED)
    delivery.detail = outcome.detail[:2000]
    delivery.attempts = outcome.attempts
    delivery.updated_at = timezone.now()
    delivery.save(update_fields=["result", "detail", "attempts", "updated_at"])
    return delivery


def test_delivery(channel: Channel, actor: str) -> Delivery:
    """A stored test message to one channel, pending: the CLI sends it at
    once (:func:`send_delivery`), a page queues it to the worker."""
    notification = Notification.objects.create(
        title="BanGUI test message", severity="info",
        text=f"A test of the channel {channel.name}, sent by {actor}. It works.")
    return Delivery.objects.create(notification=notification, channel=channel,
                                   channel_name=channel.name)


def send_one(delivery_id: int) -> str:
    """The task a page's "Send test" queues: send one pending delivery."""
    claimed = Delivery.objects.filter(pk=delivery_id, result=Delivery.Result.PENDING,
                                      attempts=0).update(attempts=1)
    if not claimed:
        return "already sent"
    delivery = Delivery.objects.select_related("notification", "channel").get(pk=delivery_id)
    return send_delivery(delivery).result


def tick() -> str:
    """Every few seconds on the coordinator's command lane (its node tick):
    look at the rules that are due and hand what they stored to the main
    lane to send (a channel may take seconds to answer; the command lane
    must not wait on it). So a ban reaches a channel a tick after it is
    archived, not up to a minute later."""
    stored = check_rules(tick=True)
    if stored:
        async_task("notifications.tasks.send_pending", cluster=nodename.queue(settings.BANGUI_NODE),
                   task_name="send notifications")
    return f"{len(stored)} notifications"


def run(*, sleep: Callable[[float], None] = time.sleep) -> str:
    """The schedule's body: look, store, send, forget what is past RETENTION."""
    stored = check_rules()
    sent = send_pending(sleep=sleep)
    Notification.objects.filter(created_at__lt=timezone.now() - RETENTION).delete()
    return f"{len(stored)} notifications, {sent} deliveries sent"
