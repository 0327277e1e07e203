"""A fake store: the port of `connector/store/port.py` in memory, for service tests whose subject is not the
database (what a service decides from what is stored, and what it asks to store).

Each repository keeps plain lists of read models; `commit` only counts (as cosmicpython's FakeUnitOfWork
does), so a test asserts that a service committed, and what it wrote, without SQL. The store's own tests
run on SQLite and PostgreSQL (tests/store/) and keep the SQL unit of work honest; this fake is kept
honest by `test_fake_store.py`, which runs the same reads against both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from connector.domain.alerts import Alert
from connector.store.records import (
    AlertRecord,
    AllocationRecord,
    ConnectionRecord,
    ReconciliationRecord,
    RunRecord,
    StoredFact,
    StoredJournal,
)


@dataclass
class FakeRuns:
    runs: list[RunRecord] = field(default_factory=list)

    def latest(self, limit: int = 20, kind: str | None = None) -> list[RunRecord]:
        found = [r for r in self.runs if kind is None or r.kind == kind]
        return sorted(found, key=lambda r: r.started_at, reverse=True)[:limit]

    def last_per_entity(
        self, kind: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[RunRecord]:
        newest: dict[str | None, RunRecord] = {}
        for run in sorted(self.runs, key=lambda r: r.started_at):
            if (kind is None or run.kind == kind) and (not statuses or run.status in statuses):
                newest[run.entity] = run
        return [newest[e] for e in sorted(newest, key=str)]


@dataclass
class FakeEvents:
    appended: list[dict] = field(default_factory=list)

    def append(self, kind: str, message: str, **details: Any) -> None:
        self.appended.append({"kind": kind, "message": message, **details})


@dataclass
class FakeAlerts:
    stored: list[AlertRecord] = field(default_factory=list)

    def dedup_keys(self) -> set[str]:
        return {a.dedup_key for a in self.stored}

    def add(self, alert: Alert, *, now: datetime, run_id: str | None) -> None:
        self.stored.append(
            AlertRecord(
                len(self.stored) + 1,
                alert.dedup_key,
                alert.kind,
                alert.entity,
                alert.subject,
                alert.period,
                alert.severity,
                alert.message,
                alert.action,
                dict(alert.data),
                now,
                None,
                [],
                None,
                run_id,
            )
        )

    def unsent(self) -> list[AlertRecord]:
        return [a for a in self.stored if a.sent_at is None]

    def delivered(
        self, alert_id: int, channels: list[str], error: str | None, sent_at: datetime | None
    ) -> None:
        self.stored = [
            replace(a, channels=channels, last_error=error, sent_at=sent_at) if a.id == alert_id else a
            for a in self.stored
        ]

    def newest(self, limit: int) -> list[AlertRecord]:
        return sorted(self.stored, key=lambda a: a.id, reverse=True)[:limit]

    def for_period(self, entity: str, period: str) -> list[AlertRecord]:
        return [a for a in self.stored if a.entity == entity and a.period == period]


@dataclass
class FakeReconciliations:
    stored: list[ReconciliationRecord] = field(default_factory=list)

    def latest_period(self, entity: str) -> str | None:
        return max((r.period for r in self.stored if r.entity == entity), default=None)

    def latest(self, entity: str, period: str) -> list[ReconciliationRecord]:
        newest: dict[tuple[str, str], ReconciliationRecord] = {}
        for r in sorted(self.stored, key=lambda r: r.id):
            if r.entity == entity and r.period == period:
                newest[(r.provider, r.provider_account)] = r
        return sorted(newest.values(), key=lambda r: r.id, reverse=True)


@dataclass
class FakeConnections:
    stored: list[ConnectionRecord] = field(default_factory=list)

    def all(self, readable: Callable[[str], bool] | None = None) -> list[ConnectionRecord]:
        # the fake keeps no tokens: with a key check given, every connection's tokens open
        found = sorted(self.stored, key=lambda c: (c.ledger, c.entity))
        return [replace(c, tokens_readable=True if readable else None) for c in found]

    def for_entity(self, entity: str) -> list[ConnectionRecord]:
        return [c for c in self.all() if c.entity == entity]


@dataclass
class FakeAllocations:
    stored: list[tuple[str, AllocationRecord]] = field(default_factory=list)  # (entity, allocation)

    def between(self, entity: str, first_day: date, last_day: date) -> list[AllocationRecord]:
        return [a for e, a in self.stored if e == entity and first_day <= a.posting_date <= last_day]


@dataclass
class FakeOutbox:
    stored: list[StoredJournal] = field(default_factory=list)

    def list(self, entity: str, *, statuses: Sequence[str] | None = None, **_: Any) -> list[StoredJournal]:
        return [
            s for s in self.stored if s.journal.entity == entity and (not statuses or s.status in statuses)
        ]


@dataclass
class FakeFacts:
    stored: list[StoredFact] = field(default_factory=list)

    def current(
        self, entity: str, first_day: date | None = None, last_day: date | None = None
    ) -> list[StoredFact]:
        return [
            s
            for s in self.stored
            if s.fact.entity == entity
            and (first_day is None or s.fact.posting_date >= first_day)
            and (last_day is None or s.fact.posting_date <= last_day)
        ]


@dataclass
class FakeUnitOfWork:
    runs: FakeRuns = field(default_factory=FakeRuns)
    events: FakeEvents = field(default_factory=FakeEvents)
    alerts: FakeAlerts = field(default_factory=FakeAlerts)
    reconciliations: FakeReconciliations = field(default_factory=FakeReconciliations)
    connections: FakeConnections = field(default_factory=FakeConnections)
    allocations: FakeAllocations = field(default_factory=FakeAllocations)
    outbox: FakeOutbox = field(default_factory=FakeOutbox)
    facts: FakeFacts = field(default_factory=FakeFacts)
    commits: int = 0
    opened: int = 0

    def __enter__(self) -> FakeUnitOfWork:
        self.opened += 1
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        pass


@dataclass
class FakeStore:
    """One fake unit of work, handed out for every transaction; the entity lock is a plain set."""

    uow: FakeUnitOfWork = field(default_factory=FakeUnitOfWork)
    locked: set[str] = field(default_factory=set)

    def unit_of_work(self) -> FakeUnitOfWork:
        return self.uow

    @contextmanager
    def entity_lock(self, entity: str) -> Iterator[bool]:
        self.locked.add(entity)
        try:
            yield True
        finally:
            self.locked.discard(entity)
