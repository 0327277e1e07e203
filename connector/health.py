"""The service's HTTP face: `/healthz` (JSON) and `/metrics` (Prometheus text), started by `serve`.

`/healthz` answers 200 while the service runs and its database answers — with `"status": "degraded"`
and the reasons when a run failed, a reconciliation found a variance or drift, or a ledger connection
needs a person to reconnect — and 503 when the database does not answer. Orchestrators restart on 503;
people and alerts read the body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from connector.service.status import ServiceStatus, Totals, service_status, totals

NextRuns = Callable[[], dict[str, datetime]]


class HealthApp:
    """The WSGI application: reads the store on every request (cheap queries, no caching to go stale)."""

    def __init__(self, app: Any, next_runs: NextRuns) -> None:
        self.app = app
        self.next_runs = next_runs

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/healthz":
            response = self.healthz()
        elif request.path == "/metrics":
            response = Response(
                self.metrics(), mimetype="text/plain", content_type="text/plain; version=0.0.4"
            )
        else:
            response = Response("not found: try /healthz or /metrics\n", status=404)
        return response(environ, start_response)

    def healthz(self) -> Response:
        try:
            status = service_status(self.app.engine, self.app.entities(), self.next_runs())
        except Exception as exc:  # the database is down or the mapping unreadable: say so, do not crash
            body = {"status": "down", "problems": [f"{type(exc).__name__}: {exc}"]}
            return Response(json.dumps(body), status=503, mimetype="application/json")
        return Response(json.dumps(health_body(status), default=str), mimetype="application/json")

    def metrics(self) -> str:
        return prometheus_text(
            totals(self.app.engine), service_status(self.app.engine, self.app.entities()), self.app
        )


def health_body(status: ServiceStatus) -> dict:
    return {
        "status": "degraded" if status.problems else "ok",
        "problems": status.problems,
        "entities": [
            {
                "entity": e.entity,
                "last_run": _run(e.last_run),
                "last_success_at": e.last_success.finished_at if e.last_success else None,
                "next_run": e.next_run,
                "reconciliation": [
                    {
                        "provider": r.provider,
                        "account": r.provider_account,
                        "period": r.period,
                        "status": r.status,
                        "variance": str(r.variance) if r.variance is not None else None,
                    }
                    for r in e.reconciliations
                ],
            }
            for e in status.entities
        ],
        "connections": [
            {"ledger": c.ledger, "entity": c.entity, "status": c.status, "reconnect_needed": c.status != "ok"}
            for c in status.connections
        ],
    }


def _run(run: Any) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "reason": run.reason,
    }


def prometheus_text(t: Totals, status: ServiceStatus, app: Any) -> str:
    out = _Metrics()
    out.family("tokenbooks_runs_total", "counter", "Runs by kind, entity and final status.")
    for (kind, entity, run_status), count in sorted(t.runs.items(), key=str):
        out.sample("tokenbooks_runs_total", count, kind=kind, entity=entity or "", status=run_status)
    out.family("tokenbooks_journals_posted_total", "counter", "Journals tokenbooks has in the ledger.")
    for entity, count in sorted(t.journals_posted.items()):
        out.sample("tokenbooks_journals_posted_total", count, entity=entity)
    out.family("tokenbooks_facts_pulled_total", "counter", "Provider facts read by sync runs.")
    for entity, count in sorted(t.facts_pulled.items()):
        out.sample("tokenbooks_facts_pulled_total", count, entity=entity)
    out.family(
        "tokenbooks_suspense_amount", "gauge", "Unallocated spend (suspense) in the last successful sync."
    )
    for entity, amount in sorted(t.suspense.items()):
        out.sample("tokenbooks_suspense_amount", amount, entity=entity)
    out.family("tokenbooks_ledger_api_calls_total", "counter", "Ledger API calls made by this process.")
    for entity, ledger in sorted(app.ledgers_in_use().items()):
        out.sample("tokenbooks_ledger_api_calls_total", ledger.stats.read_calls, entity=entity, kind="read")
        out.sample("tokenbooks_ledger_api_calls_total", ledger.stats.write_calls, entity=entity, kind="write")
    out.family("tokenbooks_reconciliation_variance", "gauge", "Invoice − provider cost, latest period.")
    out.family("tokenbooks_last_success_timestamp_seconds", "gauge", "End of the last successful sync.")
    out.family("tokenbooks_reconnect_needed", "gauge", "1 when a ledger connection needs a person.")
    for e in status.entities:
        for r in e.reconciliations:
            labels = {
                "entity": e.entity,
                "provider": r.provider,
                "account": r.provider_account,
                "period": r.period,
            }
            out.sample("tokenbooks_reconciliation_variance", r.variance or 0, **labels, status=r.status)
        if e.last_success and e.last_success.finished_at:
            out.sample(
                "tokenbooks_last_success_timestamp_seconds",
                e.last_success.finished_at.timestamp(),
                entity=e.entity,
            )
    for c in status.connections:
        out.sample("tokenbooks_reconnect_needed", int(c.status != "ok"), entity=c.entity, ledger=c.ledger)
    return out.text()


class _Metrics:
    """Prometheus' text exposition format (0.0.4), written by hand: a few families need no library."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: object, **labels: str) -> None:
        rendered = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{rendered}}} {value}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class HealthServer:
    """/healthz and /metrics on a daemon thread."""

    def __init__(self, app: Any, next_runs: NextRuns, host: str, port: int) -> None:
        self.server: BaseWSGIServer = make_server(host, port, HealthApp(app, next_runs), threaded=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="tokenbooks-health", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
