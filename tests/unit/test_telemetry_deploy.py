"""Alert rules and the Grafana dashboard: valid, and naming only metrics the services define.

``promtool check rules`` runs when promtool is installed (Debian: the
``prometheus`` package). The metric names of every alert and panel expression
are checked here against the services' metric registries; the e2e test
tests/e2e/test_e2e_dashboard_metrics.py checks them against real scrapes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conveyor.dataset import DatasetGuard
from conveyor.keys import Keys
from conveyor.telemetry.queues import QueueStats
from conveyor_ingest.context import Metrics
from conveyor_scheduler.metrics import SchedulerMetrics
from conveyor_worker.metrics import WorkerMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "conveyor-overview.json"
# Identifiers in PromQL that are not metric names.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
    "summary": ("_sum", "_count", "_created", ""),
}


def expression_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, ranges, groupings removed)."""
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = set(re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", bare))
    return names - KEYWORDS


def deployed_expressions() -> dict[str, str]:
    """Every alert rule's and dashboard target's expression, by where it is."""
    rules = yaml.safe_load(ALERTS.read_text())
    found = {
        f"alert {rule['alert']}": rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
    }
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    return found


def exposed_names(exposition: str) -> set[str]:
    """Sample names a Prometheus text exposition defines (labelled families without series too)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def registry_names(registry: CollectorRegistry) -> set[str]:
    """Sample names of every metric family of ``registry`` (labelled ones included)."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def defined_names() -> set[str]:
    """What the three services (and ingest's queue gauges) register."""
    ingest = Metrics.create()
    QueueStats(None, Keys("p", ("default",)), ingest.registry)  # type: ignore[arg-type]
    worker = CollectorRegistry()
    WorkerMetrics.create(worker)
    scheduler = SchedulerMetrics().registry
    DatasetGuard("k", registry=worker)  # every service registers it; one is enough here
    return (
        {"up"}
        | registry_names(ingest.registry)
        | registry_names(worker)
        | registry_names(scheduler)
    )


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (queue) (rate(a_total{x="y", z=~"5.."}[5m])) / clamp_min(b, 1e-9) > 0.2'
        " and (time() - max(c)) > 1 or histogram_quantile(0.9, sum by (le) (rate(d_bucket[1m])))"
    )
    assert expression_metric_names(expr) == {"a_total", "b", "c", "d_bucket"}


def test_exposed_names_include_declared_families_without_series() -> None:
    registry = CollectorRegistry()
    WorkerMetrics.create(registry)
    names = exposed_names(generate_latest(registry).decode())
    assert "conveyor_worker_outcomes_total" in names
    assert "conveyor_worker_handler_seconds_bucket" in names
    assert "conveyor_worker_in_flight" in names
    assert "conveyor_worker_outcomes" not in names


def test_every_alert_and_panel_names_only_defined_metrics() -> None:
    defined = defined_names()
    expressions = deployed_expressions()
    assert len(expressions) > 20
    unknown = {
        where: sorted(expression_metric_names(expr) - defined)
        for where, expr in expressions.items()
        if expression_metric_names(expr) - defined
    }
    assert unknown == {}


def test_dashboard_shows_every_metric_family_the_issue_lists() -> None:
    used = set().union(*map(expression_metric_names, deployed_expressions().values()))
    for family in (
        "conveyor_queue_group_lag", "conveyor_queue_pending",
        "conveyor_queue_oldest_pending_seconds",
        "conveyor_queue_dead_letters", "conveyor_worker_outcomes_total",
        "conveyor_worker_handler_seconds_bucket", "conveyor_worker_start_latency_seconds_bucket",
        "conveyor_worker_in_flight", "conveyor_worker_breaker_open",
        "conveyor_ingest_requests_total", "conveyor_ingest_request_seconds_bucket",
        "conveyor_ingest_task_requests_rejected_total", "conveyor_scheduler_fires_total",
        "conveyor_scheduler_misfires_total", "conveyor_scheduler_fire_lateness_seconds_bucket",
        "conveyor_scheduler_timer_lag_seconds",
    ):  # fmt: skip
        assert family in used, family


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    checked = subprocess.run(  # noqa: S603 - a fixed command on our own file
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
