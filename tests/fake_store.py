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
from typing import Any, Generic, TypeVar

from connector.domain.alerts import Alert
from connector.domain.console import AuditEvent, RunSummary
from connector.domain.errors import BusyError
from connector.store.records import (
    AlertRecord,
    AllocationRecord,
    BookmarkRecord,
    ConnectionRecord,
    JournalDigest,
    JournalRecord,
    ReconciliationRecord,
    RunRecord,
    StoredFact,
    StoredJournal,
    StuckClaim,
    VersionRecord,
)


@dataclass
class FakeRuns:
    runs: list[RunRecord] = field(default_factory=list)

    def start(
        self,
        run_id: str,
        kind: str,
        *,
        entity: str | None,
        params: dict,
        actor: str,
        code_version: str,
        owner: str | None,
        now: datetime,
    ) -> None:
        running = RunRecord(run_id, kind, entity, actor, now, None, "running", None, params)
        self.runs.append(replace(running, code_version=code_version, owner=owner))

    def finish(self, run_id: str, status: str, *, reason: str | None, stats: dict, now: datetime) -> None:
        [run] = [r for r in self.runs if r.id == run_id]
        self._replace(replace(run, status=status, reason=reason, stats=stats, finished_at=now))

    def abandon_running(self, entity: str, *, now: datetime, reason: str) -> list[RunRecord]:
        running = [r for r in self.runs if r.entity == entity and r.status == "running"]
        abandoned = [replace(r, status="abandoned", reason=reason, finished_at=now) for r in running]
        for run in abandoned:
            self._replace(run)
        return abandoned

    def get(self, run_id: str) -> RunRecord | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def _replace(self, run: RunRecord) -> None:
        self.runs = [run if r.id == run.id else r for r in self.runs]

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
    planned: dict[int, str] = field(default_factory=dict)  # journal id → the run that planned it
    approved: dict[int, str] = field(default_factory=dict)  # journal id → who approved it

    def list(self, entity: str, *, statuses: Sequence[str] | None = None, **_: Any) -> list[StoredJournal]:
        found = [
            s for s in self.stored if s.journal.entity == entity and (not statuses or s.status in statuses)
        ]
        return sorted(found, key=lambda s: (s.journal.txn_date, s.id))  # as the outbox lists them

    def by_key(self, entity: str, key: str) -> StoredJournal | None:
        return next((s for s in self.list(entity) if s.journal.key == key), None)

    def held_by_run(self, entity: str, run_id: str) -> list[StoredJournal]:
        held = [s for s in self.list(entity, statuses=["held"]) if self.planned.get(s.id) == run_id]
        return sorted(held, key=lambda s: (s.journal.txn_date, s.id))

    def approve(self, journal_id: int, approver: str) -> None:
        if journal_id not in {s.id for s in self.stored}:
            raise KeyError(journal_id)
        self.stored = [replace(s, status="planned") if s.id == journal_id else s for s in self.stored]
        self.approved[journal_id] = approver

    def approvers(self, journal_ids) -> dict[int, str]:
        return {i: self.approved[i] for i in journal_ids if i in self.approved}

    def planned_by(self, journal_id: int) -> str | None:
        return self.planned.get(journal_id)


@dataclass
class FakeConsole:
    """The console's reads the approvals use: runs (from the fake's runs) and the events given."""

    runs: FakeRuns
    events: list[AuditEvent] = field(default_factory=list)

    def run(self, run_id: str) -> RunSummary | None:
        run = self.runs.get(run_id)
        if run is None:
            return None
        return RunSummary(
            run.id, run.kind, run.entity, run.actor, run.status, run.started_at, run.finished_at, run.reason,
            run.params, run.stats,
        )  # fmt: skip

    def events_of_run(self, run_id: str) -> list[AuditEvent]:
        return [e for e in self.events if e.run_id == run_id]

    def events_of_kind(self, kinds: Sequence[str], limit: int = 500) -> list[AuditEvent]:
        return sorted((e for e in self.events if e.kind in kinds), key=lambda e: e.id, reverse=True)[:limit]


@dataclass
class FakeCommitments:
    """What `audit verify` compares: the journals' digests as stored now, what the chain committed, and the
    ledger ids the posting events name (each set by the test)."""

    stored: dict[tuple[str, str], tuple[JournalRecord, JournalDigest]] = field(default_factory=dict)
    committed_digests: dict[tuple[str, str], tuple[int, JournalDigest]] = field(default_factory=dict)
    posted_ids: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    approvers: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def digests(self, journal_ids: Any = None) -> dict[tuple[str, str], tuple[JournalRecord, JournalDigest]]:
        return {k: v for k, v in self.stored.items() if journal_ids is None or v[0].id in set(journal_ids)}

    def committed(self) -> dict[tuple[str, str], tuple[int, JournalDigest]]:
        return dict(self.committed_digests)

    def posted(self) -> dict[tuple[str, str], tuple[int, str]]:
        return dict(self.posted_ids)

    def approved(self) -> dict[tuple[str, str], tuple[int, str]]:
        return dict(self.approvers)

    def first_committed_id(self) -> int | None:
        ids = [self.stored[k][0].id for k in self.committed_digests if k in self.stored]
        return min(ids, default=None)

    def commit_journals(self, entity: str, journal_ids: Any, *, run_id: Any, now: Any) -> None:
        for key, (_row, digest) in self.digests(journal_ids).items():
            self.committed_digests[key] = (0, digest)

    def journal_commitments(self, journals: Any) -> dict[tuple[str, str], tuple[int, Any]]:
        return {k: self.committed_digests[k] for k in journals if k in self.committed_digests}

    def day_commitments(self, days: Any) -> dict:
        return {}

    def day_committers(self) -> dict:
        return {}  # the fake's facts are not committed (see commit_facts)

    def committed_by(self, event_id: int, fact_day: Any) -> None:
        return None

    def index_rows(self) -> dict:
        return {("journal", e, "", k): event for (e, k), (event, _) in self.committed_digests.items()}

    def provider_days(self, entity: str, posting_day: date) -> set:
        return set()

    def current_keys(self, days: Any) -> dict:
        return {day: set() for day in days}

    def runs(self) -> list[tuple[str, Any, list]]:
        return []  # the fake's runs are checked by the tests that make them

    def commit_facts(self, *args: Any, **kwargs: Any) -> None:
        return None  # the fake's facts are not committed: the SQL store's tests hold them to the chain

    def facts_first_top(self) -> int | None:
        return None

    def fact_days(self) -> Iterator[tuple]:
        return iter(())

    def payloads_committed(self) -> dict:
        return {}

    def payload_hashes(self, payload_ids: Any) -> dict:
        return {}

    def allocations_first_top(self) -> int | None:
        return None

    def allocation_windows(self, size: int) -> Iterator[tuple]:
        return iter(())

    def fact_labels(self, fact_ids: Any) -> dict:
        return {}


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

    def cost_days(self, entity: str, first_day: date, last_day: date) -> dict:
        days: dict = {}
        for s in self.current(entity):
            if first_day <= s.fact.charge_date <= last_day:
                key = ("fake", s.fact.provider, s.fact.provider_account)
                days.setdefault(key, set()).add(s.fact.charge_date)
        return days


Row = TypeVar("Row")


@dataclass
class FakeReadWhole(Generic[Row]):
    """A repository the services read whole (`all()`): the sources' bookmarks (`sources_status`), the
    policies versions runs used before (`load_policy_history`)."""

    stored: list[Row] = field(default_factory=list)

    def all(self) -> list[Row]:
        return list(self.stored)


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
    commitments: FakeCommitments = field(default_factory=FakeCommitments)
    bookmarks: FakeReadWhole[BookmarkRecord] = field(default_factory=FakeReadWhole)
    policies: FakeReadWhole[VersionRecord] = field(default_factory=FakeReadWhole)
    console_events: list[AuditEvent] = field(default_factory=list)  # what `console` reads beside the runs
    commits: int = 0
    opened: int = 0

    @property
    def console(self) -> FakeConsole:
        return FakeConsole(self.runs, self.console_events)

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
class FakeClaims:
    """The scheduled jobs' claims, as `store/job_claims.py` says which are stuck."""

    stuck_claims: list[StuckClaim] = field(default_factory=list)

    def stuck(self) -> list[StuckClaim]:
        return list(self.stuck_claims)


@dataclass
class FakeStore:
    """One fake unit of work, handed out for every transaction; the entity lock is a plain set."""

    uow: FakeUnitOfWork = field(default_factory=FakeUnitOfWork)
    locked: set[str] = field(default_factory=set)
    held_elsewhere: dict[str, str] = field(default_factory=dict)  # entity → the other process's run

    claims: FakeClaims = field(default_factory=FakeClaims)

    def unit_of_work(self) -> FakeUnitOfWork:
        return self.uow

    def job_claims(self) -> FakeClaims:
        return self.claims

    @contextmanager
    def entity_lock(self, entity: str) -> Iterator[bool]:
        if entity in self.held_elsewhere:  # as store/locks.py says it
            raise BusyError(
                f"entity {entity} is busy: {self.held_elsewhere[entity]} holds its lock",
                fix="wait for it to finish",
            )
        self.locked.add(entity)
        try:
            yield True
        finally:
            self.locked.discard(entity)
