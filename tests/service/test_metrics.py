"""Metrics: valid Prometheus exposition from prometheus_client, the counters operators need, and a
Grafana dashboard that names only metrics tokenbooks exposes."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from connector.domain.errors import RateLimited
from connector.retrying import RetryPolicy
from connector.service.store_metrics import exposition
from connector.service.sync import sync
from tests.service.conftest import World
from tests.service.test_health import samples

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tokenbooks.json"
SUFFIXES = ("", "_total", "_created", "_bucket", "_sum", "_count")


def exposed_names(text: str) -> set[str]:
    return {family.name + suffix for family in text_string_to_metric_families(text) for suffix in SUFFIXES}


def test_a_run_held_refused_and_retried_journals_and_pull_latency_are_counted(world: World):
    world.source.set("120.00", date(2026, 10, 1))
    world.source.set("80.00", date(2026, 10, 2))
    world.ledger.faults.extend(["ok", "reject"])
    retried = ("tokenbooks_retries_total", (("reason", "RateLimited"),))
    before = samples(exposition(world.app).decode()).get(retried, 0)
    RetryPolicy(3, sleep=lambda _: None).call(throttled_once())
    world.clock.night_after(date(2026, 10, 2))
    sync(world.app, entity="acme-us", until=date(2026, 10, 2))

    found = samples(exposition(world.app).decode())
    assert found[retried] == before + 1
    journals = {
        dict(labels)["status"]: v for (name, labels), v in found.items() if name == "tokenbooks_journals"
    }
    assert journals == {"posted": 1, "rejected": 1}
    attempts = {
        (dict(labels)["outcome"], dict(labels)["error"]): v
        for (name, labels), v in found.items()
        if name == "tokenbooks_posting_attempts_total"
    }
    assert attempts == {("created", ""): 1, ("rejected", "Rejected"): 1}
    assert found[("tokenbooks_pull_duration_seconds_count", (("source", "openai.costs"),))] >= 1
    assert ("tokenbooks_quarantined_rows_total", ()) not in found  # no imports yet: no made-up zero


def throttled_once():
    calls = []

    def call() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RateLimited("429 Too Many Requests", retry_after=0)

    return call


def test_the_grafana_dashboard_charts_only_metrics_that_exist(world: World):
    exposed = exposed_names(exposition(world.app).decode())
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {n for e in expressions for n in re.findall(r"\btokenbooks_[a-z_]+", e)}
    assert named, "the dashboard charts nothing"
    assert named - exposed == set()
    families = {n for n in exposed if n.startswith("tokenbooks_")}
    assert {"tokenbooks_database_up", "tokenbooks_runs_total", "tokenbooks_retries_total"} <= families
