"""contrib/grafana/bangui-fail2ban.json queries only what /metrics exports."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from bangui.tests.test_health import TOKEN, scrape
from nodes.models import Node

pytestmark = pytest.mark.django_db

DASHBOARD = Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "bangui-fail2ban.json"

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:$.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
             "offset", "and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not
    functions, keywords, label names, strings or Grafana variables."""
    expr = _GROUPING.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub(" ", expr))))
    return {name for name in _IDENT.findall(expr) if name.lower() not in _KEYWORDS}


def test_the_promql_reader_finds_metric_names():
    assert metric_names('sum by (instance, jail) (rate(f2b_jail_banned_total'
                        '{instance=~"$instance", jail=~"$jail"}[$__rate_interval])) * 3600'
                        ) == {"f2b_jail_banned_total"}
    assert metric_names("bangui_worker_up == 0 or on(instance) f2b_up") == {
        "bangui_worker_up", "f2b_up"}


def queries(dashboard: dict) -> list[str]:
    """Every panel target's expr (rows' nested panels too)."""
    out = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop()
        stack += panel.get("panels", [])
        out += [target["expr"] for target in panel.get("targets", [])]
    return out


def variable_queries(dashboard: dict) -> list[str]:
    """The metric a ``label_values(metric{…}, label)`` variable reads."""
    out = []
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((\w+)(?:\{.*\})?,\s*\w+\)", query)
            assert match, query
            out.append(match[1])
    return out


@pytest.fixture
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_it_has_a_prometheus_datasource_variable(dashboard):
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop()
        stack += panel.get("panels", [])
        for holder in (panel, *panel.get("targets", [])):
            assert holder["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, \
                panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_it_charts_what_operators_watch(dashboard):
    wanted = {"f2b_up", "f2b_jail_banned_current", "f2b_jail_banned_total",
              "f2b_jail_failed_current", "bangui_archive_sync_lag_seconds", "bangui_worker_up"}
    used = set().union(*map(metric_names, queries(dashboard)))
    assert wanted <= used
    assert any("rate(f2b_jail_banned_total" in expr for expr in queries(dashboard))


def test_every_metric_it_queries_is_exported(dashboard, client, settings, f2b, f2b_client):
    # Everything that is exported only sometimes, present: fail2ban up, a
    # worker lease, a finished archive sync, a failed task.
    from django_q.models import Failure

    from jails.models import SyncState

    settings.METRICS_TOKEN = TOKEN
    now = timezone.now()
    Node.objects.create(name=settings.BANGUI_NODE, holder="host:1:abcd", acquired_at=now,
                        heartbeat_at=now, expires_at=now + timedelta(seconds=30))
    SyncState.objects.create(db_path=str(f2b.dbfile), last_success_at=now)
    Failure.objects.create(id="a" * 32, name="task", func="math.floor", started=now,
                           stopped=now, success=False)
    f2b_client.ban("sshd", ["192.0.2.20"])
    exported = set(scrape(client).samples)

    used = set().union(*map(metric_names, queries(dashboard))) | set(
        variable_queries(dashboard))
    assert used - exported == set()
