"""The metrics read from the store at each scrape, and the exposition of every metric (`connector/metrics.py`
says what each family means; this module reads the store's and renders them all with this process's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector.domain.errors import StoreUnavailable
from connector.metrics import PROCESS, ProcessMetrics
from connector.service.status import OK_RUN_STATUSES, service_status


def exposition(app: Any) -> bytes:
    """Every metric, as Prometheus text."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(app))
    registry.register(ProcessMetrics(PROCESS))
    return generate_latest(registry)


class StoreCollector(Collector):
    """The families read from the store (and the ledgers this process has connected)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tokenbooks_database_up", "1 when the database answers, 0 when it does not.")
        try:
            families = list(self._from_store())
        except StoreUnavailable:
            families = []
        up.add_metric([], 1 if families else 0)
        yield up
        yield from families
        yield self._ledger_calls()

    def _from_store(self) -> Iterator[Metric]:
        with self.app.store.unit_of_work() as uow:
            totals = uow.totals(OK_RUN_STATUSES)
        status = service_status(self.app.store, self.app.entities(), now=self.app.clock())
        yield _counter(
            "tokenbooks_runs",
            "Runs by kind, entity and final status.",
            ["kind", "entity", "status"],
            totals.runs,
        )
        yield _gauge(
            "tokenbooks_journals",
            "Journals in the outbox by status: posted, held (for approval), rejected (refused by the "
            "ledger), failed (to retry), planned, posting.",
            ["entity", "ledger", "status"],
            totals.journals,
        )
        posted: dict[tuple[str], int] = {}
        for (entity, _ledger, state), count in totals.journals.items():
            if state == "posted":
                posted[(entity,)] = posted.get((entity,), 0) + count
        yield _counter(
            "tokenbooks_journals_posted", "Journals tokenbooks has in the ledger.", ["entity"], posted
        )
        yield _counter(
            "tokenbooks_posting_attempts",
            "Ledger posting attempts by outcome (created, found, rejected, uncertain, failed) and error class.",
            ["entity", "ledger", "outcome", "error"],
            totals.attempts,
        )
        yield _counter(
            "tokenbooks_facts_pulled",
            "Provider facts read by sync runs.",
            ["entity"],
            _keyed(totals.facts_pulled),
        )
        yield _counter(
            "tokenbooks_quarantined_rows",
            "Imported rows refused and quarantined.",
            ["kind", "entity"],
            totals.quarantined,
        )
        yield _gauge(
            "tokenbooks_suspense_amount",
            "Unallocated spend (suspense) in the months the ledger has not locked, per provider and "
            "currency: each month as the last successful sync that planned it left it.",
            ["entity", "provider", "currency"],
            totals.suspense,
        )
        variance = GaugeMetricFamily(
            "tokenbooks_reconciliation_variance",
            "Invoice − provider cost, latest period.",
            labels=["entity", "provider", "account", "period", "status"],
        )
        success = GaugeMetricFamily(
            "tokenbooks_last_success_timestamp_seconds", "End of the last successful sync.", labels=["entity"]
        )
        for e in status.entities:
            for r in e.reconciliations:
                labels = [e.entity, r.provider, r.provider_account, r.period, r.status]
                variance.add_metric(labels, float(r.variance or 0))  # float ok: a metric sample, not books
            if e.last_success and e.last_success.finished_at:
                success.add_metric([e.entity], e.last_success.finished_at.timestamp())
        stuck = GaugeMetricFamily(
            "tokenbooks_stuck_runs",
            "Runs left `running` by a scheduled job whose process stopped (gone, or its claim's heartbeat "
            "stale); the next run of the entity takes up their work.",
            labels=["entity"],
        )
        for e in status.entities:
            stuck.add_metric([e.entity], len(e.stuck_runs))
        reconnect = GaugeMetricFamily(
            "tokenbooks_reconnect_needed",
            "1 when a ledger connection needs a person.",
            labels=["entity", "ledger"],
        )
        for c in status.connections:
            reconnect.add_metric([c.entity, c.ledger], int(status.reconnect(c) is not None))
        yield from (variance, success, stuck, reconnect)

    def _ledger_calls(self) -> Metric:
        calls = CounterMetricFamily(
            "tokenbooks_ledger_api_calls", "Ledger API calls made by this process.", labels=["entity", "kind"]
        )
        for entity, ledger in sorted(self.app.ledgers_in_use().items()):
            calls.add_metric([entity, "read"], ledger.stats.read_calls)
            calls.add_metric([entity, "write"], ledger.stats.write_calls)
        return calls


def _keyed(values: dict[str, Any]) -> dict[tuple[str], Any]:
    return {(key,): value for key, value in values.items()}


def _counter(name: str, help_text: str, labels: list[str], values: dict[tuple, Any]) -> Metric:
    family = CounterMetricFamily(name, help_text, labels=labels)
    for key, value in sorted(values.items(), key=str):
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, help_text: str, labels: list[str], values: dict[tuple, Any]) -> Metric:
    family = GaugeMetricFamily(name, help_text, labels=labels)
    for key, value in sorted(values.items(), key=str):
        family.add_metric(list(key), float(value))  # float ok: a metric sample, never an amount booked
    return family
