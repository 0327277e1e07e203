"""Status: what the service's health page and metrics report, read from the store.

Per entity: the last run (kind, status, time, reason), the last successful sync, the latest
reconciliation of each provider account, ledger connections that need a person to reconnect; and the
totals Prometheus scrapes (runs by status, journals posted, facts pulled, suspense, variance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from connector.domain.money import ZERO
from connector.store.repositories import UnitOfWork
from connector.store.tables import ConnectionRow, JournalRow, ReconciliationRow, RunRow

OK_RUN_STATUSES = ("succeeded", "partial")


@dataclass
class EntityStatus:
    entity: str
    last_run: RunRow | None = None
    last_success: RunRow | None = None  # the last sync that succeeded (or posted part, `partial`)
    reconciliations: list[ReconciliationRow] = field(default_factory=list)
    next_run: datetime | None = None

    @property
    def problems(self) -> list[str]:
        found = []
        if self.last_run is not None and self.last_run.status in ("failed", "abandoned"):
            found.append(
                f"last {self.last_run.kind} run {self.last_run.status}: {self.last_run.reason or ''}"
            )
        found += [
            f"reconciliation {r.provider}/{r.provider_account} {r.period}: {r.status}"
            for r in self.reconciliations
            if r.status in ("variance", "drift", "unknown_account")
        ]
        return found


@dataclass
class ServiceStatus:
    entities: list[EntityStatus]
    connections: list[ConnectionRow]

    @property
    def reconnect_needed(self) -> list[ConnectionRow]:
        return [c for c in self.connections if c.status != "ok"]

    @property
    def problems(self) -> list[str]:
        found = [p for e in self.entities for p in e.problems]
        found += [
            f"{c.ledger} connection of {c.entity} needs a person to reconnect (`tokenbooks connect {c.ledger}`): "
            f"{c.last_error or c.status}"
            for c in self.reconnect_needed
        ]
        return found


def service_status(
    engine: Engine, entities: list[str], next_runs: dict[str, datetime] | None = None
) -> ServiceStatus:
    next_runs = next_runs or {}
    with UnitOfWork(engine) as uow:
        last = {r.entity: r for r in uow.runs.last_per_entity()}
        success = {r.entity: r for r in uow.runs.last_per_entity(kind="sync", statuses=OK_RUN_STATUSES)}
        statuses = [
            EntityStatus(
                entity,
                last.get(entity),
                success.get(entity),
                _latest_reconciliations(uow, entity),
                next_runs.get(entity),
            )
            for entity in entities
        ]
        connections = list(uow.session.exec(select(ConnectionRow).order_by(ConnectionRow.id)).scalars())
    return ServiceStatus(statuses, connections)


def _latest_reconciliations(uow: UnitOfWork, entity: str) -> list[ReconciliationRow]:
    period = uow.session.execute(
        select(func.max(ReconciliationRow.period)).where(ReconciliationRow.entity == entity)
    ).scalar()
    return uow.reconciliations.latest(entity, period) if period else []


# ------------------------------------------------------------------------------------------------ metrics


@dataclass
class Totals:
    runs: dict[tuple[str, str | None, str], int]  # (kind, entity, status) → count
    journals_posted: dict[str, int]  # entity → journals in the ledger
    facts_pulled: dict[str, int]  # entity → facts pulled by every sync run
    suspense: dict[str, Decimal]  # entity → unallocated spend in the last successful sync's plan


def totals(engine: Engine) -> Totals:
    with UnitOfWork(engine) as uow:
        runs = uow.runs.status_counts()
        posted = dict(
            uow.session.execute(
                select(JournalRow.entity, func.count())
                .where(JournalRow.status == "posted")
                .group_by(JournalRow.entity)
            ).all()
        )
        facts: dict[str, int] = {}
        rows = uow.session.execute(select(RunRow.entity, RunRow.stats).where(RunRow.kind == "sync"))
        for entity, stats in rows:
            facts[entity] = facts.get(entity, 0) + int((stats or {}).get("facts_pulled", 0))
        suspense = {
            r.entity: Decimal(str(r.stats.get("suspense", ZERO)))
            for r in uow.runs.last_per_entity(kind="sync", statuses=OK_RUN_STATUSES)
        }
    return Totals(runs, posted, facts, suspense)
