"""Status: what the service's health page and metrics report, read from the store.

Per entity: the last run (kind, status, time, reason), the last successful sync, the latest
reconciliation of each provider account, a run left `running` by a process that stopped — whoever
started it: a scheduled job (its process gone, or its claim's heartbeat stale: `store/job_claims.py`),
or cron, a timer or a person (the process the run row names is gone) — and ledger connections that need
a person to reconnect (the metrics in `connector/metrics.py` and the alerts read the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from connector.leases import holder_is_dead, holder_process, same_process
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
    def stuck_runs(self) -> list[StuckRun]:
        """The entity's runs left `running` by a process that stopped (`find_stuck_runs`)."""
        return find_stuck_runs(self.last_booking, self.stuck)

    @property
    def problems(self) -> list[str]:
        found = [" ".join(stuck.words(self.entity)) for stuck in self.stuck_runs]
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
    stuck = stuck_claims_by_entity(store)
    for status in statuses:
        status.stuck = stuck.get(status.entity, [])
    return ServiceStatus(statuses, connections, now)


@dataclass(frozen=True, slots=True)
class StuckRun:
    """A booking run left `running` by a process that stopped (killed, out of memory, hung): nothing
    else says so until the next run of the entity abandons it."""

    run: RunRecord
    owner: str  # the process that ran it, host:pid:thread:nonce
    holder_gone: bool  # it ran on this machine and its process no longer exists
    claim: StuckClaim | None  # the scheduled job's claim; None for a run cron, a timer or a person started

    def words(self, entity: str) -> tuple[str, str]:
        """What is wrong and what to do, as the health page and the alert say them."""
        run, claim, holder = self.run, self.claim, holder_process(self.owner)
        if claim is not None and not self.holder_gone:  # a holder elsewhere, or one that hangs
            why = (
                f"the {holder} that runs it has not renewed its claim (the lease ran out at "
                f"{claim.expires_at:%Y-%m-%d %H:%M} UTC): it died or hangs"
            )
        else:
            why = f"the {holder} that ran it is gone"
        by = f"{claim.job.partition(':')[0]} job for {claim.occurrence}" if claim else "not a scheduled job"
        what = (
            f"{run.kind} run {run.id} of {entity} ({by}, started {run.started_at:%Y-%m-%d %H:%M} UTC) is "
            f"stuck `running`: {why}."
        )
        period = run.params.get("period") if run.kind == "close" else None
        again = f"`tokenbooks {run.kind} --entity {entity}" + (f" --period {period}`" if period else "`")
        takes_up = "looks up in the ledger what the stopped run may have posted before posting the rest"
        if claim is not None:
            return (
                what,
                f"Restart `tokenbooks serve` (it runs the night again) or run {again}; either {takes_up}",
            )
        return what, f"Run {again} (or let the next scheduled run do it); it {takes_up}"


def find_stuck_runs(booking: Iterable[RunRecord], stuck_claims: list[StuckClaim]) -> list[StuckRun]:
    """Of the newest booking runs of an entity (`last_booking_runs`), those `running` in a process that
    stopped: the holder of a stuck claim of the entity's scheduled jobs (`JobClaims.stuck`), or — a run
    with no claim, as a cron `tokenbooks sync` has — a process on this machine that is gone. A claim
    goes with the run its own process started: an old job's stuck claim says nothing of a live cron run.
    A run recorded before runs named their process (0026) goes with any stuck claim, as it did then."""
    found = []
    for run in booking:
        if run.status != "running":
            continue
        claim = next((c for c in stuck_claims if run.owner is None or same_process(c.owner, run.owner)), None)
        if claim is not None:
            found.append(StuckRun(run, claim.owner, claim.holder_gone, claim))
        elif run.owner is not None and holder_is_dead(run.owner):
            found.append(StuckRun(run, run.owner, True, None))
    return found


def stuck_claims_by_entity(store: Store) -> dict[str, list[StuckClaim]]:
    """The stuck claims of the scheduled jobs (`JobClaims.stuck`), per entity."""
    found: dict[str, list[StuckClaim]] = {}
    for claim in store.job_claims().stuck():
        found.setdefault(claim.job.partition(":")[2], []).append(claim)  # job ids are `<kind>:<entity>`
    return found


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
