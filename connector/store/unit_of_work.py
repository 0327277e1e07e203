"""The SQL unit of work: one transaction over the store, with every aggregate's repositories bound to it.

Services open it, work through the repositories, and commit once, so facts and their bookmark, or a
journal and its contributions, land together or not at all.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.store.audit_log import AlertRepository, EventLog, RunRepository
from connector.store.classification import (
    AllocationRepository,
    LedgerChartRepository,
    MappingVersionRepository,
    PolicyVersionRepository,
)
from connector.store.commitments import CommitmentRepository
from connector.store.connections import ConnectionRepository
from connector.store.console_reads import ConsoleReads
from connector.store.console_summaries import ConsoleSummaries
from connector.store.facts import BookmarkRepository, FactRepository, RawPayloadRepository, UsageRepository
from connector.store.inputs import (
    CreditLotRepository,
    CustomerCreditRepository,
    FactMarkRepository,
    ImportRepository,
    InvoiceRepository,
    ReconciliationRepository,
)
from connector.store.job_claims import JobClaims
from connector.store.locks import entity_lock
from connector.store.outbox import OutboxRepository
from connector.store.plan_inputs import DaySumsRepository
from connector.store.records import StoreTotals
from connector.store.staging import PullStage
from connector.store.totals import store_totals
from connector.store.users import UserRepository


class SqlStore:
    """The store on a database (SQLite or PostgreSQL): units of work, and the entity lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def entity_lock(self, entity: str) -> AbstractContextManager[bool]:
        return entity_lock(self.engine, entity)

    def job_claims(self) -> JobClaims:
        return JobClaims(self.engine)

    def open_pull_stage(
        self, *, source: str, provider_account: str, run_id: str | None, now: datetime
    ) -> PullStage:
        return PullStage.open(
            self.unit_of_work, source=source, provider_account=provider_account, run_id=run_id, now=now
        )


class UnitOfWork:
    """One transaction over the store, with every repository bound to it (`connector/store/port.py`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> UnitOfWork:
        self.session = Session(self.engine, expire_on_commit=False)
        self.facts = FactRepository(self.session)
        self.raw = RawPayloadRepository(self.session)
        self.bookmarks = BookmarkRepository(self.session)
        self.runs = RunRepository(self.session)
        self.events = EventLog(self.session)
        self.mappings = MappingVersionRepository(self.session)
        self.alerts = AlertRepository(self.session)
        self.allocations = AllocationRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.invoices = InvoiceRepository(self.session)
        self.reconciliations = ReconciliationRepository(self.session)
        self.charts = LedgerChartRepository(self.session)
        # ingestion (issue 3)
        self.usage = UsageRepository(self.session)
        self.imports = ImportRepository(self.session)
        self.credit_lots = CreditLotRepository(self.session)
        self.fact_marks = FactMarkRepository(self.session)
        self.customer_credits = CustomerCreditRepository(self.session)
        # policies (issue 5)
        self.policies = PolicyVersionRepository(self.session)
        self.connections = ConnectionRepository(self.session)
        self.commitments = CommitmentRepository(self.session)
        self.day_sums = DaySumsRepository(self.session)
        self.users = UserRepository(self.session)
        self.console = ConsoleReads(self.session)
        self.console_summaries = ConsoleSummaries(self.session)
        return self

    def __exit__(self, *exc: Any) -> None:
        # close() discards an uncommitted transaction and, unlike rollback(), leaves the objects read in
        # this unit of work readable afterwards
        self.session.close()

    def totals(self, ok_statuses: tuple[str, ...]) -> StoreTotals:
        """Counts across the store for the metrics (runs, journals, facts, …)."""
        return store_totals(self.session, ok_statuses)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
