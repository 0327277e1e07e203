"""The service's HTTP face: `/healthz` (JSON) and `/metrics` (Prometheus text), started by `serve`.

What `/metrics` says is defined in `connector/metrics.py`; this module only serves it.

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

from connector.domain.errors import TokenbooksError
from connector.metrics import CONTENT_TYPE, exposition
from connector.redaction import redact
from connector.service.status import ServiceStatus, service_status

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
            response = Response(exposition(self.app), content_type=CONTENT_TYPE)
        else:
            response = Response("not found: try /healthz or /metrics\n", status=404)
        return response(environ, start_response)

    def healthz(self) -> Response:
        try:
            status = service_status(self.app.engine, self.app.entities(), self.next_runs())
        except TokenbooksError as exc:  # the database is down or the mapping unreadable: say so, do not crash
            body = {"status": "down", "problems": [redact(exc.message)]}
            return Response(json.dumps(body), status=503, mimetype="application/json")
        return Response(json.dumps(health_body(status), default=str), mimetype="application/json")


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
