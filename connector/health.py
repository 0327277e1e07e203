"""The service's health and metrics endpoints: `/healthz` (JSON) and `/metrics` (Prometheus text).

They are routes of the console's ASGI application (`connector/web/asgi.py`), so `tokenbooks serve` and
`tokenbooks web` answer them on TOKENBOOKS_WEB__HOST:PORT, beside the console and without signing in.
What `/metrics` says is defined in `connector/metrics.py`; this module only serves it.

`/healthz` answers 200 while the service runs and its database answers — with `"status": "degraded"`
and the reasons when a run failed, a run is stuck `running` in a process that stopped (gone, or its
job claim's heartbeat stale; a cron `tokenbooks sync` too), a reconciliation found a variance or drift, or a ledger connection
needs a person to reconnect — and 503 when the database does not answer. Orchestrators restart on 503;
people and alerts read the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.domain.errors import TokenbooksError
from connector.metrics import CONTENT_TYPE
from connector.redaction import redact
from connector.service.status import ServiceStatus, service_status
from connector.service.store_metrics import exposition

NextRuns = Callable[[], dict[str, datetime]]


def health_routes(app: Any, next_runs: NextRuns) -> list[Route]:
    """`/healthz` and `/metrics` for the application `app` (they read the store on every request: cheap
    queries, no caching to go stale); `next_runs` gives each entity's next scheduled run."""

    async def healthz(request: Request) -> Response:
        return await run_in_threadpool(health_response, app, next_runs)

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(exposition, app)
        return Response(body, media_type=CONTENT_TYPE.split(";")[0], headers={"content-type": CONTENT_TYPE})

    return [Route("/healthz", healthz), Route("/metrics", metrics)]


def health_response(app: Any, next_runs: NextRuns) -> Response:
    try:
        status = service_status(app.store, app.entities(), next_runs(), now=app.clock())
    except TokenbooksError as exc:  # the database is down or the mapping unreadable: say so, do not crash
        return JSONResponse({"status": "down", "problems": [redact(exc.message)]}, status_code=503)
    body = json.dumps(health_body(status), default=str)
    return Response(body, media_type="application/json")


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
                "stuck": [
                    {
                        "run_id": stuck.run.id,
                        "job": stuck.claim.job if stuck.claim else None,  # None: cron, a timer or a person
                        "occurrence": stuck.claim.occurrence if stuck.claim else None,
                        "holder": stuck.owner,
                        "holder_gone": stuck.holder_gone,
                        "lease_expires_at": stuck.claim.expires_at if stuck.claim else None,
                    }
                    for stuck in e.stuck_runs
                ],
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
            {
                "ledger": c.ledger,
                "entity": c.entity,
                "status": c.status,
                "reconnect_needed": status.reconnect(c) is not None,
            }
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
