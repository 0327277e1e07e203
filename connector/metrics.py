"""The service's metrics, defined in this one module; serving them is someone else's job.

`service/store_metrics.py: exposition(app)` renders every family in Prometheus' text format through `prometheus_client` (valid
exposition: HELP and TYPE before each family's samples, escaped labels, `_total` counters), for
whichever HTTP server exposes it (`health.py` today). Two sources (the store's families are read there,
so that this module, which every layer counts into, depends on none of them):

- **the store**, read at each scrape, so the numbers cover every process that shares the database (a
  CLI sync, another `serve`): runs by status, journals by status (posted, held, rejected …), posting
  attempts by outcome and error, facts pulled, rows quarantined, suspense, reconciliation variance,
  runs stuck in a process that stopped, connections that need a person, the last success. If the database does not answer, these families
  are left out and `tokenbooks_database_up` says 0 — the scrape itself still succeeds, so the outage
  is what the graph shows;
- **this process**, counted as it happens: ledger API calls by its ledgers, retries by reason, and
  pull latency per source (`PULL_SECONDS`, `RETRIES`).

The Grafana dashboard in `deploy/grafana/tokenbooks.json` charts these names; a test checks that it
names no other metric.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

PROCESS = CollectorRegistry(auto_describe=True)  # what this process counts as it happens
RETRIES = Counter(
    "tokenbooks_retries",
    "Retried calls to providers and ledgers, by reason (RateLimited, UncertainOutcome, Retriable).",
    ["reason"],
    registry=PROCESS,
)
PULL_SECONDS = Histogram(
    "tokenbooks_pull_duration_seconds",
    "How long one source took to pull one window.",
    ["source"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=PROCESS,
)


class ProcessMetrics(Collector):
    """The families this process counts as it happens (`PROCESS`), for a registry that also reads the store."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
