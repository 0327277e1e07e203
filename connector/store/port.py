"""The store's port: the abstract unit of work services take, and the repositories it promises.

Why here and not in `connector/service`: the port is the store's contract, written in the store's own
vocabulary (the read models in `records.py`, `StoredJournal`, `StoredFact`), so it sits beside its two
implementations — the SQL unit of work (`unit_of_work.py`) and the tests' in-memory one — and services
import one SQL-free module. Neither this module nor `records.py` imports SQLAlchemy (a test holds them to
it); everything else in `connector/store/` is the SQL adapter, which only `bootstrap.py` builds.

A service takes a `Store` and opens one unit of work per transaction (`with store.unit_of_work() as uow:
… uow.commit()`); what is not committed is discarded when the block ends. The repositories listed are the
ones services reach through this port; a repository still missing here is used only by the modules
`tests/test_layers.py` lists as not yet converted.
"""

from __future__ import annotations

import builtins  # `Outbox.list` shadows the builtin in the class's own annotations
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from connector.domain.alerts import Alert
from connector.domain.journals import Bucket, JournalKind
from connector.store.records import (
    AlertRecord,
    AllocationRecord,
    ConnectionRecord,
    EventRecord,
    ReconciliationRecord,
    RunRecord,
    StoredFact,
    StoredJournal,
)


class Runs(Protocol):
    def latest(self, limit: int = 20, kind: str | None = None) -> builtins.list[RunRecord]: ...

    def last_per_entity(
        self, kind: str | None = None, statuses: Sequence[str] | None = None
    ) -> builtins.list[RunRecord]: ...

    def start(
        self,
        run_id: str,
        kind: str,
        *,
        entity: str | None,
        params: dict,
        actor: str,
        code_version: str,
        now: datetime,
    ) -> None: ...

    def finish(self, run_id: str, status: str, *, reason: str | None, stats: dict, now: datetime) -> None: ...

    def abandon_running(self, entity: str, *, now: datetime, reason: str) -> builtins.list[RunRecord]: ...


class Events(Protocol):
    def in_order(self, batch: int = 5_000) -> Iterator[EventRecord]: ...

    def head(self) -> Any: ...

    def append(
        self,
        kind: str,
        message: str,
        *,
        run_id: str | None = None,
        actor: str = "tokenbooks",
        level: str = "info",
        data: dict | None = None,
        now: datetime | None = None,
    ) -> EventRecord: ...


class Alerts(Protocol):
    def dedup_keys(self) -> set[str]: ...

    def add(self, alert: Alert, *, now: datetime, run_id: str | None) -> None: ...

    def unsent(self) -> builtins.list[AlertRecord]: ...

    def delivered(
        self, alert_id: int, channels: builtins.list[str], error: str | None, sent_at: datetime | None
    ) -> None: ...

    def newest(self, limit: int) -> builtins.list[AlertRecord]: ...

    def for_period(self, entity: str, period: str) -> builtins.list[AlertRecord]: ...


class Reconciliations(Protocol):
    def latest(self, entity: str, period: str) -> builtins.list[ReconciliationRecord]: ...

    def latest_period(self, entity: str) -> str | None: ...


class Connections(Protocol):
    def all(self, readable: Callable[[str], bool] | None = None) -> builtins.list[ConnectionRecord]: ...

    def for_entity(self, entity: str) -> builtins.list[ConnectionRecord]: ...


class Allocations(Protocol):
    def between(self, entity: str, first_day: date, last_day: date) -> builtins.list[AllocationRecord]: ...


class Outbox(Protocol):
    def list(
        self,
        entity: str,
        *,
        statuses: Sequence[str] | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> builtins.list[StoredJournal]: ...

    def by_key(self, entity: str, key: str) -> StoredJournal | None: ...

    def held_by_run(self, entity: str, run_id: str) -> builtins.list[StoredJournal]: ...

    def approve(self, journal_id: int, approver: str) -> None: ...

    def planned_by(self, journal_id: int) -> str | None: ...

    def posted_by_bucket(
        self,
        entity: str,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        kinds: Sequence[JournalKind] | None = None,
    ) -> dict[Bucket, Decimal]: ...

    def pending(self, entity: str) -> builtins.list[StoredJournal]: ...

    def set_status(
        self,
        journal_id: int,
        status: str,
        *,
        now: datetime,
        ledger_id: str | None = None,
        error: str | None = None,
    ) -> None: ...

    def last_attempt_started(self, journal_ids: Sequence[int]) -> dict[int, datetime]: ...

    def start_attempt(
        self, journal_id: int, *, run_id: str | None, request_id: str, now: datetime
    ) -> int: ...

    def finish_attempt(
        self,
        attempt_id: int,
        outcome: str,
        *,
        now: datetime,
        ledger_id: str | None = None,
        error_class: str | None = None,
        error_message: str | None = None,
    ) -> None: ...


class Facts(Protocol):
    def current(
        self, entity: str, first_day: date | None = None, last_day: date | None = None
    ) -> builtins.list[StoredFact]: ...


class UnitOfWork(Protocol):
    """One transaction over the store: work through the repositories, then `commit` once."""

    runs: Runs
    events: Events
    alerts: Alerts
    reconciliations: Reconciliations
    connections: Connections
    allocations: Allocations
    outbox: Outbox
    facts: Facts
    # Repositories whose protocol is not written yet (issue 15, in progress): the services using them run
    # on the SQL unit of work only, and the fake store does not offer them.
    raw: Any
    bookmarks: Any
    mappings: Any
    invoices: Any
    charts: Any
    usage: Any
    imports: Any
    credit_lots: Any
    customer_credits: Any
    policies: Any
    users: Any
    console: Any
    commitments: Any
    day_sums: Any  # kept per-day sums of classified facts (store/plan_inputs.py)

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def totals(self, ok_statuses: tuple[str, ...]) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class Store(Protocol):
    """Where a service gets its units of work and the entity lock (one process per entity at a time)."""

    def unit_of_work(self) -> UnitOfWork: ...

    def entity_lock(self, entity: str) -> AbstractContextManager[bool]: ...

    def job_claims(self) -> Any: ...  # claims of scheduled jobs' occurrences (store/job_claims.py)

    def open_pull_stage(
        self, *, source: str, provider_account: str, run_id: str | None, now: datetime
    ) -> Any:
        """A new stage for one pull's pages (store/staging.py): added as they arrive, then promoted in one
        transaction or discarded; stages an interrupted pull left behind are discarded first."""
        ...
