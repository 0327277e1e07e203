"""Status: what the service's health page and metrics report, read from the store.

Per entity: the last run (kind, status, time, reason), the last successful sync, the latest
reconciliation of each provider account, a run left `running` by a scheduled job whose process stopped
(gone, or its claim's heartbeat stale: `store/job_claims.py`), ledger connections that need a person to
reconnect (the metrics in `connector/metrics.py` read the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from connector.leases import holder_process
from connector.service.connections import reconnect_reason
from connector.store.port import Store, UnitOfWork
from connector.store.records import ConnectionRecord, ReconciliationRecord, RunRecord, StuckClaim

# the run's day is booked (a partial run's rest is posted by the next run: the catch-up at restart too)
OK_RUN_STATUSES = ("succeeded", "partial")
NEEDS_A_LOOK = ("failed", "abandoned", "partial")  # a partial run left journals unposted: degraded
# The runs that book: only a later run of the same kind takes up what a failed one left. A pull, a
# reconciliation, an import or a dry run posts nothing, so it neither clears nor hides their failure.
BOOKING_KINDS = ("sync", "close")


@dataclass
class EntityStatus:
    entity: str
    last_run: RunRecord | None = None  # the newest run of any kind, as information
    last_success: RunRecord | None = None  # the last sync that succeeded (or posted part, `partial`)
    last_booking: list[RunRecord] = field(default_factory=list)  # the newest run of each BOOKING_KINDS
    reconciliations: list[ReconciliationRecord] = field(default_factory=list)
    next_run: datetime | None = None
    stuck: list[StuckClaim] = field(default_factory=list)  # its scheduled jobs whose holder stopped

    @property
    def stuck_runs(self) -> list[tuple[StuckClaim, RunRecord]]:
        """The entity's runs left `running` by a scheduled job whose process stopped (killed, out of
        memory, hung): nothing else says so until the next run of the entity abandons them."""
        running = next((run for run in self.last_booking if run.status == "running"), None)
        return [(claim, running) for claim in self.stuck] if running else []

    @property
    def problems(self) -> list[str]:
        found = [_stuck_problem(self.entity, claim, run) for claim, run in self.stuck_runs]
        found += [
            f"last {run.kind} run {run.status}: {run.reason or ''}"
            for run in runs_needing_a_look(self.last_booking)
        ]
        found += [
            f"reconciliation {r.provider}/{r.provider_account} {r.period}: {r.status}"
            for r in self.reconciliations
            if r.status in ("variance", "drift", "unknown_account")
        ]
        return found


@dataclass
class ServiceStatus:
    entities: list[EntityStatus]
    connections: list[ConnectionRecord]
    now: datetime  # as of when: a refresh token expires with time alone

    def reconnect(self, connection: ConnectionRecord) -> str | None:
        """Why the connection needs a person to reconnect, or None (`connections.reconnect_reason`)."""
        return reconnect_reason(connection, self.now)

    @property
    def reconnect_needed(self) -> list[ConnectionRecord]:
        return [c for c in self.connections if self.reconnect(c)]

    @property
    def problems(self) -> list[str]:
        found = [p for e in self.entities for p in e.problems]
        found += [
            f"{c.ledger} connection of {c.entity} needs a person to reconnect (`tokenbooks connect {c.ledger}`): "
            f"{self.reconnect(c)}"
            for c in self.reconnect_needed
        ]
        return found


def service_status(
    store: Store, entities: list[str], next_runs: dict[str, datetime] | None = None, *, now: datetime
) -> ServiceStatus:
    next_runs = next_runs or {}
    with store.unit_of_work() as uow:
        last = {r.entity: r for r in uow.runs.last_per_entity()}
        success = {r.entity: r for r in uow.runs.last_per_entity(kind="sync", statuses=OK_RUN_STATUSES)}
        booking = last_booking_runs(uow)
        statuses = [
            EntityStatus(
                entity,
                last.get(entity),
                success.get(entity),
                booking.get(entity, []),
                _latest_reconciliations(uow, entity),
                next_runs.get(entity),
            )
            for entity in entities
        ]
        connections = uow.connections.all()
    stuck: dict[str, list[StuckClaim]] = {}
    for claim in store.job_claims().stuck():
        stuck.setdefault(claim.job.partition(":")[2], []).append(claim)  # job ids are `<kind>:<entity>`
    for status in statuses:
        status.stuck = stuck.get(status.entity, [])
    return ServiceStatus(statuses, connections, now)


def _stuck_problem(entity: str, claim: StuckClaim, run: RunRecord) -> str:
    holder = holder_process(claim.owner)
    if claim.holder_gone:
        why = f"the {holder} that ran it is gone"
    else:
        why = f"the {holder} that runs it has not renewed its claim (the lease ran out at {claim.expires_at:%Y-%m-%d %H:%M} UTC): it died or hangs"
    return (
        f"{run.kind} run {run.id} of {entity} ({claim.job.partition(':')[0]} job for {claim.occurrence}, started "
        f"{run.started_at:%Y-%m-%d %H:%M} UTC) is stuck `running`: {why}. Restart `tokenbooks serve` (it runs "
        f"the night again) or run `tokenbooks sync --entity {entity}`; either looks up in the ledger what "
        "the stopped run may have posted before posting the rest"
    )


def last_booking_runs(uow: UnitOfWork) -> dict[str | None, list[RunRecord]]:
    """Per entity, the newest run of each kind that books (BOOKING_KINDS), running or finished."""
    found: dict[str | None, list[RunRecord]] = {}
    for kind in BOOKING_KINDS:
        for run in uow.runs.last_per_entity(kind=kind):
            found.setdefault(run.entity, []).append(run)
    return found


def runs_needing_a_look(booking: Iterable[RunRecord]) -> list[RunRecord]:
    """Of the newest booking runs of an entity (`last_booking_runs`), those a person must look at: the
    health page's problems and the run alerts both read them, so a pull, an import or a dry run after a
    bad night hides it from neither."""
    return [run for run in booking if run.status in NEEDS_A_LOOK]


def _latest_reconciliations(uow: UnitOfWork, entity: str) -> list[ReconciliationRecord]:
    period = uow.reconciliations.latest_period(entity)
    return uow.reconciliations.latest(entity, period) if period else []
