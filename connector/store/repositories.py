"""Repositories: the store's vocabulary, translating rows to domain objects and back.

One `UnitOfWork` is one transaction: the service opens it, works through the repositories, and commits
once, so facts and their bookmark, or a journal and its contributions, land together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Text, cast, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.domain.facts import ChargeCategory, CostBasis, Dimensions, Fact
from connector.domain.journals import (
    Bucket,
    Contribution,
    Journal,
    JournalKind,
    JournalLine,
    LedgerTarget,
    serial_of,
)
from connector.domain.mapping import Allocation, MappingSet
from connector.domain.money import ZERO
from connector.store.tables import (
    AllocationRow,
    AuditChainRow,
    BookmarkRow,
    ContributionRow,
    EventRow,
    FactRow,
    InvoiceRow,
    JournalLineRow,
    JournalRow,
    MappingVersionRow,
    PostingAttemptRow,
    RawPayloadRow,
    ReconciliationRow,
    RunRow,
)

GENESIS_HASH = "0" * 64


def utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------------------ facts


@dataclass(frozen=True, slots=True)
class StoredFact:
    id: int
    fact: Fact


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    """What a re-pull of a window did to the stored facts."""

    inserted: int = 0
    restated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    changed_days: frozenset[date] = frozenset()  # posting days whose facts changed

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.restated or self.withdrawn)


def fact_to_row(fact: Fact, *, run_id: str | None, now: datetime, raw_payload_id: int | None) -> dict:
    return {
        "entity": fact.entity,
        "source": fact.source,
        "provider": fact.provider,
        "provider_account": fact.provider_account,
        "natural_key": fact.natural_key,
        "version": fact.version,
        "is_current": True,
        "charge_date": fact.charge_date,
        "posting_date": fact.posting_date,
        "amount": fact.amount,
        "currency": fact.currency,
        "cost_basis": fact.cost_basis.value,
        "charge_category": fact.charge_category.value,
        "quantity": fact.quantity,
        "unit": fact.unit,
        "dimensions": fact.dimensions.as_dict(),
        "raw_payload_id": raw_payload_id,
        "run_id": run_id,
        "pulled_at": now,
    }


# Bulk reads and writes of facts and allocations go through the tables (SQLAlchemy Core): rows as tuples,
# no ORM identity map, which is what makes a month of a million facts fit in the nightly window.
FACTS = FactRow.__table__
ALLOCATIONS = AllocationRow.__table__


def row_to_fact(row: Any) -> Fact:
    """A fact from a stored row: an ORM object, or a Core row from `fact_rows()` (dimensions as JSON text)."""
    return Fact(
        entity=row.entity,
        provider=row.provider,
        provider_account=row.provider_account,
        charge_date=row.charge_date,
        posting_date=row.posting_date,
        amount=row.amount,
        currency=row.currency,
        natural_key=row.natural_key,
        dimensions=_dimensions(row),
        cost_basis=CostBasis(row.cost_basis),
        charge_category=ChargeCategory(row.charge_category),
        quantity=row.quantity,
        unit=row.unit,
        version=row.version,
        source=row.source,
    )


def fact_rows() -> Any:
    """SELECT of what a Fact needs (no audit columns), dimensions as JSON text (parsed once per text)."""
    skip = {"dimensions", "pulled_at", "superseded_at", "run_id", "raw_payload_id"}
    columns = [c for c in FACTS.c if c.name not in skip]
    return select(*columns, cast(FACTS.c.dimensions, Text).label("dimensions_json"))


def _dimensions(row: Any) -> Dimensions:
    text = getattr(row, "dimensions_json", None)
    return dimensions_from_json(text) if text is not None else Dimensions.of(row.dimensions)


@lru_cache(maxsize=250_000)
def dimensions_from_json(text: str) -> Dimensions:
    """The same dimension sets recur day after day: parse each distinct JSON text once (immutable result)."""
    return Dimensions.of(json.loads(text))


def _same_content(row: Any, fact: Fact) -> bool:
    return (
        row.amount == fact.amount
        and row.currency == fact.currency
        and _dimensions(row) == fact.dimensions
        and row.posting_date == fact.posting_date
        and row.quantity == fact.quantity
        and row.cost_basis == fact.cost_basis.value
        and row.charge_category == fact.charge_category.value
    )


class FactRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def replace_window(
        self,
        *,
        source: str,
        provider_account: str,
        first_day: date,
        last_day: date,
        facts: Sequence[Fact],
        raw_payload_ids: dict[str, int],
        run_id: str | None,
        now: datetime,
    ) -> ReplaceResult:
        """Make the stored current facts of a source window equal to `facts`.

        A bucket whose content is unchanged keeps its row; a changed one gets a new version and the old
        row is kept, no longer current (history); a bucket the provider no longer reports is withdrawn.
        """
        current = {
            row.natural_key: row
            for row in self.session.connection().execute(
                fact_rows().where(
                    FACTS.c.source == source,
                    FACTS.c.provider_account == provider_account,
                    FACTS.c.is_current.is_(True),
                    FACTS.c.charge_date >= first_day,
                    FACTS.c.charge_date <= last_day,
                )
            )
        }
        to_insert: list[dict] = []
        superseded: list[int] = []
        changed_days: set[date] = set()
        unchanged = restated = 0
        for fact in facts:
            old = current.pop(fact.natural_key, None)
            if old is not None and _same_content(old, fact):
                unchanged += 1
                continue
            if old is not None:
                restated += 1
                superseded.append(old.id)
                changed_days.add(old.posting_date)
                fact = _with_version(fact, old.version + 1)
            to_insert.append(
                fact_to_row(
                    fact, run_id=run_id, now=now, raw_payload_id=raw_payload_ids.get(fact.natural_key)
                )
            )
            changed_days.add(fact.posting_date)
        for gone in current.values():
            superseded.append(gone.id)
            changed_days.add(gone.posting_date)
        if superseded:
            self.session.exec(
                update(FactRow).where(FactRow.id.in_(superseded)).values(is_current=False, superseded_at=now)
            )
        if to_insert:
            self.session.connection().execute(insert(FACTS), to_insert)
        return ReplaceResult(
            inserted=len(to_insert) - restated,
            restated=restated,
            unchanged=unchanged,
            withdrawn=len(current),
            changed_days=frozenset(changed_days),
        )

    def current(
        self, entity: str, first_day: date | None = None, last_day: date | None = None
    ) -> list[StoredFact]:
        c = FACTS.c
        query = fact_rows().where(c.entity == entity, c.is_current.is_(True))
        if first_day:
            query = query.where(c.posting_date >= first_day)
        if last_day:
            query = query.where(c.posting_date <= last_day)
        rows = self.session.connection().execute(query.order_by(c.posting_date, c.id))
        return [StoredFact(row.id, row_to_fact(row)) for row in rows]

    def summary(self, entity: str, first_day: date, last_day: date) -> list:
        """How many current facts the entity has in the range, and the newest one's id (any change moves one)."""
        c = FACTS.c
        row = (
            self.session.connection()
            .execute(
                select(func.count(), func.max(c.id)).where(
                    c.entity == entity,
                    c.is_current.is_(True),
                    c.posting_date >= first_day,
                    c.posting_date <= last_day,
                )
            )
            .one()
        )
        return [row[0], row[1]]

    def earliest_day(self, entity: str) -> date | None:
        return self.session.exec(
            select(func.min(FactRow.posting_date)).where(
                FactRow.entity == entity, FactRow.is_current.is_(True)
            )
        ).scalar()

    def all_versions(
        self, entity: str, provider: str, provider_account: str, first_day: date, last_day: date
    ) -> list[FactRow]:
        """Every stored version (current and superseded) of an account's facts posted in a range of days."""
        return list(
            self.session.exec(
                select(FactRow).where(
                    FactRow.entity == entity,
                    FactRow.provider == provider,
                    FactRow.provider_account == provider_account,
                    FactRow.posting_date >= first_day,
                    FactRow.posting_date <= last_day,
                )
            ).scalars()
        )

    def history(self, natural_key: str) -> list[FactRow]:
        return list(
            self.session.exec(
                select(FactRow).where(FactRow.natural_key == natural_key).order_by(FactRow.version)
            ).scalars()
        )

    def get(self, fact_id: int) -> FactRow | None:
        return self.session.get(FactRow, fact_id)


def _with_version(fact: Fact, version: int) -> Fact:
    from dataclasses import replace

    return replace(fact, version=version)


class RawPayloadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, *, source: str, endpoint: str, request: dict, body: str, run_id: str | None, now: datetime
    ) -> int:
        row = RawPayloadRow(
            source=source,
            endpoint=endpoint,
            request=request,
            body=body,
            sha256=hashlib.sha256(body.encode()).hexdigest(),
            fetched_at=now,
            run_id=run_id,
        )
        self.session.add(row)
        self.session.flush()
        return row.id  # type: ignore[return-value]

    def get(self, payload_id: int) -> RawPayloadRow | None:
        return self.session.get(RawPayloadRow, payload_id)


class BookmarkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, source_id: str) -> str | None:
        row = self.session.get(BookmarkRow, source_id)
        return row.value if row else None

    def advance(self, source_id: str, value: str, now: datetime) -> None:
        """Move a bookmark forward to `value` (ISO dates compare as text); never backward."""
        row = self.session.get(BookmarkRow, source_id) or BookmarkRow(
            source_id=source_id, value=value, updated_at=now
        )
        row.value = max(row.value, value)
        row.updated_at, row.last_success_at, row.last_error = now, now, None
        self.session.add(row)

    def record_error(self, source_id: str, error: str, now: datetime) -> None:
        row = self.session.get(BookmarkRow, source_id) or BookmarkRow(
            source_id=source_id, value="", updated_at=now
        )
        row.last_error, row.last_error_at = error, now
        self.session.add(row)

    def all(self) -> list[BookmarkRow]:
        return list(self.session.exec(select(BookmarkRow).order_by(BookmarkRow.source_id)).scalars())


# ------------------------------------------------------------------------------------------- runs, log


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

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
    ) -> RunRow:
        row = RunRow(
            id=run_id,
            kind=kind,
            entity=entity,
            actor=actor,
            started_at=now,
            params=params,
            code_version=code_version,
        )
        self.session.add(row)
        return row

    def finish(self, run_id: str, status: str, *, reason: str | None, stats: dict, now: datetime) -> None:
        row = self.session.get(RunRow, run_id)
        if row is None:
            raise KeyError(run_id)
        row.status, row.reason, row.stats, row.finished_at = status, reason, stats, now
        self.session.add(row)

    def get(self, run_id: str) -> RunRow | None:
        return self.session.get(RunRow, run_id)

    def abandon_running(self, entity: str, *, now: datetime, reason: str) -> list[RunRow]:
        """Mark the entity's runs still `running` as abandoned (call it holding the entity's lock)."""
        rows = list(
            self.session.exec(
                select(RunRow).where(RunRow.entity == entity, RunRow.status == "running")
            ).scalars()
        )
        for row in rows:
            row.status, row.reason, row.finished_at = "abandoned", reason, now
            self.session.add(row)
        return rows

    def last_per_entity(self, kind: str | None = None, statuses: Sequence[str] | None = None) -> list[RunRow]:
        """The newest run of each entity (of one kind, with one of the statuses, when given)."""
        newest = select(RunRow.entity, func.max(RunRow.started_at).label("started_at")).group_by(
            RunRow.entity
        )
        if kind:
            newest = newest.where(RunRow.kind == kind)
        if statuses:
            newest = newest.where(RunRow.status.in_(statuses))
        newest_sub = newest.subquery()
        query = select(RunRow).join(
            newest_sub,
            (RunRow.entity == newest_sub.c.entity) & (RunRow.started_at == newest_sub.c.started_at),
        )
        if kind:
            query = query.where(RunRow.kind == kind)
        if statuses:
            query = query.where(RunRow.status.in_(statuses))
        return list(self.session.exec(query.order_by(RunRow.entity)).scalars())

    def between(self, first: datetime, last: datetime) -> list[RunRow]:
        return list(
            self.session.exec(
                select(RunRow)
                .where(RunRow.started_at >= first, RunRow.started_at <= last)
                .order_by(RunRow.started_at)
            ).scalars()
        )

    def status_counts(self) -> dict[tuple[str, str | None, str], int]:
        """(kind, entity, status) → number of runs."""
        rows = self.session.execute(
            select(RunRow.kind, RunRow.entity, RunRow.status, func.count()).group_by(
                RunRow.kind, RunRow.entity, RunRow.status
            )
        )
        return {(kind, entity, status): count for kind, entity, status, count in rows}

    def latest(self, limit: int = 20, kind: str | None = None) -> list[RunRow]:
        query = select(RunRow)
        if kind:
            query = query.where(RunRow.kind == kind)
        return list(self.session.exec(query.order_by(RunRow.started_at.desc()).limit(limit)).scalars())


def event_hash(
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    kind: str,
    message: str,
    data: dict,
    run_id: str | None,
    level: str = "info",
    scheme: int = 2,
) -> str:
    """The hash of an event: sha256 over its canonical JSON and the previous event's hash.

    Scheme 1 (events written before revision 0002) covers everything but the level; scheme 2 covers it too.
    """
    content = {
        "prev": prev_hash,
        "at": as_utc(at).isoformat(),
        "actor": actor,
        "kind": kind,
        "message": message,
        "data": data,
        "run_id": run_id,
    }
    if scheme >= 2:
        content["level"] = level
    canonical = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC (a naive value is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def row_hash(row: EventRow) -> str:
    return event_hash(
        row.prev_hash,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        message=row.message,
        data=row.data,
        run_id=row.run_id,
        level=row.level,
        scheme=row.hash_scheme,
    )


@dataclass(frozen=True, slots=True)
class ChainHead:
    last_event_id: int
    last_hash: str
    events: int


class EventLog:
    """The append-only, hash-chained run log.

    Every append first updates the chain's head row: that takes SQLite's write lock or PostgreSQL's row
    lock until the transaction ends, so concurrent writers append one after the other and the chain can
    never fork (two events claiming the same predecessor).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

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
    ) -> EventRow:
        at = as_utc(now or utcnow())
        data = json.loads(json.dumps(data or {}, default=str))
        prev = self._lock_head()
        digest = event_hash(
            prev, at=at, actor=actor, kind=kind, message=message, data=data, run_id=run_id, level=level
        )
        row = EventRow(
            run_id=run_id,
            at=at,
            actor=actor,
            kind=kind,
            level=level,
            message=message,
            data=data,
            prev_hash=prev,
            hash=digest,
            hash_scheme=2,
        )
        self.session.add(row)
        self.session.flush()
        self.session.execute(
            update(AuditChainRow)
            .where(AuditChainRow.id == 1)
            .values(last_event_id=row.id, last_hash=digest, updated_at=at)
        )
        return row

    def _lock_head(self) -> str:
        """Lock the chain's head for this transaction and return the hash the next event links to."""
        bumped = self.session.execute(
            update(AuditChainRow).where(AuditChainRow.id == 1).values(events=AuditChainRow.events + 1)
        ).rowcount
        if not bumped:  # a database created before the head existed: start it at its last event
            last = self.session.execute(
                select(EventRow.id, EventRow.hash).order_by(EventRow.id.desc())
            ).first()
            count = self.session.execute(select(func.count(EventRow.id))).scalar() or 0
            self.session.execute(
                insert(AuditChainRow).values(
                    id=1,
                    last_event_id=last[0] if last else 0,
                    last_hash=last[1] if last else GENESIS_HASH,
                    events=count + 1,
                    updated_at=utcnow(),
                )
            )
        return self.session.execute(select(AuditChainRow.last_hash).where(AuditChainRow.id == 1)).scalar_one()

    def head(self) -> ChainHead | None:
        row = self.session.execute(
            select(AuditChainRow.last_event_id, AuditChainRow.last_hash, AuditChainRow.events)
        ).first()
        return ChainHead(*row) if row else None

    def last_data(self, kind: str, **match: object) -> dict | None:
        """The data of the newest event of `kind` whose data holds `match` (a few recent events are read)."""
        rows = self.session.exec(
            select(EventRow).where(EventRow.kind == kind).order_by(EventRow.id.desc()).limit(50)
        )
        for row in rows.scalars():
            if all(row.data.get(k) == v for k, v in match.items()):
                return row.data
        return None

    def for_run(self, run_id: str) -> list[EventRow]:
        return list(
            self.session.exec(
                select(EventRow).where(EventRow.run_id == run_id).order_by(EventRow.id)
            ).scalars()
        )

    def all(self) -> list[EventRow]:
        return list(self.session.exec(select(EventRow).order_by(EventRow.id)).scalars())


# ----------------------------------------------------------------------------------------- mapping, alloc


class MappingVersionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, mapping: MappingSet, content: str, *, run_id: str | None, now: datetime) -> bool:
        """Store a mapping version the first time it is seen; True when it is new."""
        exists = self.session.exec(
            select(MappingVersionRow.id).where(MappingVersionRow.content_hash == mapping.content_hash)
        ).first()
        if exists:
            return False
        self.session.add(
            MappingVersionRow(
                version=mapping.version,
                effective_from=mapping.effective_from,
                change_note=mapping.change_note,
                content_hash=mapping.content_hash,
                content=content,
                source=mapping.source,
                first_seen_at=now,
                run_id=run_id,
            )
        )
        return True

    def all(self) -> list[MappingVersionRow]:
        return list(self.session.exec(select(MappingVersionRow).order_by(MappingVersionRow.id)).scalars())


class AllocationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def replace_for_facts(
        self, pairs: Iterable[tuple[int, Allocation]], fact_ids: Sequence[int], *, run_id: str | None
    ) -> int:
        """Make the stored allocations of `fact_ids` equal to the given (fact id, allocation) pairs.

        Only facts whose allocations differ are rewritten, so a night with no new data and no mapping
        change writes nothing, and an unchanged allocation keeps the run that placed it. Returns how
        many facts were rewritten.
        """
        wanted: dict[int, list[dict]] = defaultdict(list)
        for fact_id, a in pairs:
            wanted[fact_id].append(
                {
                    "fact_id": fact_id,
                    "entity": a.fact.entity,
                    "posting_date": a.fact.posting_date,
                    "provider": a.fact.provider,
                    "provider_account": a.fact.provider_account,
                    "currency": a.fact.currency,
                    "category": a.category.value,
                    "target_key": a.target.key(),
                    "rule_id": a.rule_id,
                    "mapping_version": a.mapping_version,
                    "percent": a.percent,
                    "amount": a.amount,
                    "run_id": run_id,
                }
            )
        ids = list(fact_ids)
        stored = self._placements(ids)
        changed = [i for i in ids if stored.get(i, set()) != {_placement(r) for r in wanted.get(i, ())}]
        connection = self.session.connection()
        for chunk in _chunks(changed):
            connection.execute(delete(ALLOCATIONS).where(ALLOCATIONS.c.fact_id.in_(chunk)))
        rows = [row for fact_id in changed for row in wanted.get(fact_id, ())]
        if rows:
            connection.execute(insert(ALLOCATIONS), rows)
        return len(changed)

    def _placements(self, fact_ids: list[int]) -> dict[int, set[tuple]]:
        c = ALLOCATIONS.c
        stored: dict[int, set[tuple]] = defaultdict(set)
        for chunk in _chunks(fact_ids):
            query = select(
                c.fact_id, c.rule_id, c.mapping_version, c.category, c.target_key, c.percent, c.amount
            ).where(c.fact_id.in_(chunk))
            for row in self.session.connection().execute(query):
                stored[row.fact_id].add(_placement(row._mapping))
        return stored

    def for_bucket(self, bucket: Bucket) -> list[AllocationRow]:
        return list(
            self.session.exec(
                select(AllocationRow).where(
                    AllocationRow.entity == bucket.entity,
                    AllocationRow.posting_date == bucket.period,
                    AllocationRow.provider == bucket.provider,
                    AllocationRow.provider_account == bucket.provider_account,
                    AllocationRow.target_key == bucket.target.key(),
                )
            ).scalars()
        )


def _placement(row: Any) -> tuple:
    """What an allocation says, without who wrote it when: equal placements need no rewrite."""
    return (
        row["rule_id"],
        row["mapping_version"],
        row["category"],
        row["target_key"],
        row["percent"],
        row["amount"],
    )


def _chunks(ids: list[int], size: int = 10_000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# ------------------------------------------------------------------------------------------------ outbox


@dataclass(frozen=True, slots=True)
class StoredJournal:
    id: int
    journal: Journal
    status: str
    ledger: str
    ledger_id: str | None
    generation: int
    attempts: int
    hold_reason: str | None
    last_error: str | None


ACTIVE_STATUSES = ("planned", "held", "posting", "posted", "failed")  # all but "rejected"
PENDING_STATUSES = ("planned", "posting", "failed")


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, journal: Journal, *, ledger: str, run_id: str | None, now: datetime, hold_reason: str = ""
    ) -> int:
        row = JournalRow(
            entity=journal.entity,
            ledger=ledger,
            key=journal.key,
            kind=journal.kind.value,
            txn_date=journal.txn_date,
            original_date=journal.original_date,
            currency=journal.currency,
            exchange_rate=journal.exchange_rate,
            memo=journal.memo,
            provider=journal.provider,
            provider_account=journal.provider_account,
            status="held" if hold_reason else "planned",
            hold_reason=hold_reason or None,
            planned_run_id=run_id,
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        for number, line in enumerate(journal.lines, start=1):
            self.session.add(
                JournalLineRow(
                    journal_id=row.id,
                    line_no=number,
                    target_key=line.target.key(),
                    amount=line.amount,
                    description=line.description,
                )
            )
        for c in journal.contributions:
            b = c.bucket
            self.session.add(
                ContributionRow(
                    journal_id=row.id,
                    entity=b.entity,
                    kind=b.kind.value,
                    period=b.period,
                    provider=b.provider,
                    provider_account=b.provider_account,
                    currency=b.currency,
                    target_key=b.target.key(),
                    amount=c.amount,
                )
            )
        return row.id  # type: ignore[return-value]

    def posted_by_bucket(
        self,
        entity: str,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        kinds: Sequence[JournalKind] | None = None,
    ) -> dict[Bucket, Decimal]:
        """Σ contributions per bucket of every journal that is not rejected: posted or on its way."""
        query = (
            select(ContributionRow)
            .join(JournalRow, JournalRow.id == ContributionRow.journal_id)
            .where(ContributionRow.entity == entity, JournalRow.status.in_(ACTIVE_STATUSES))
        )
        if first_day:
            query = query.where(ContributionRow.period >= first_day)
        if last_day:
            query = query.where(ContributionRow.period <= last_day)
        if kinds:
            query = query.where(ContributionRow.kind.in_([k.value for k in kinds]))
        totals: dict[Bucket, Decimal] = {}
        for row in self.session.exec(query).scalars():
            bucket = _bucket_of(row)
            totals[bucket] = totals.get(bucket, ZERO) + row.amount
        return totals

    def summary(self, entity: str) -> list:
        """How many active (not rejected) journals the entity has, and the newest journal's id."""
        active = self.session.execute(
            select(func.count()).where(JournalRow.entity == entity, JournalRow.status.in_(ACTIVE_STATUSES))
        ).scalar()
        newest = self.session.execute(
            select(func.max(JournalRow.id)).where(JournalRow.entity == entity)
        ).scalar()
        return [active, newest]

    def used_serials(self, entity: str) -> dict[str, int]:
        """The highest serial per key prefix already in the outbox (rejected journals included)."""
        serials: dict[str, int] = {}
        for key in self.session.exec(select(JournalRow.key).where(JournalRow.entity == entity)).scalars():
            prefix = key[: key.rfind("-") + 1]
            serials[prefix] = max(serials.get(prefix, 0), serial_of(key))
        return serials

    def pending(self, entity: str) -> list[StoredJournal]:
        rows = self.session.exec(
            select(JournalRow)
            .where(JournalRow.entity == entity, JournalRow.status.in_(PENDING_STATUSES))
            .order_by(JournalRow.txn_date, JournalRow.id)
        ).scalars()
        return [self._load(row) for row in rows]

    def by_key(self, entity: str, key: str) -> StoredJournal | None:
        row = self.session.exec(
            select(JournalRow).where(JournalRow.entity == entity, JournalRow.key == key)
        ).scalar()
        return self._load(row) if row else None

    def list(
        self,
        entity: str,
        *,
        statuses: Sequence[str] | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> list[StoredJournal]:
        query = select(JournalRow).where(JournalRow.entity == entity)
        if statuses:
            query = query.where(JournalRow.status.in_(statuses))
        if first_day:
            query = query.where(JournalRow.txn_date >= first_day)
        if last_day:
            query = query.where(JournalRow.txn_date <= last_day)
        rows = self.session.exec(query.order_by(JournalRow.txn_date, JournalRow.id)).scalars()
        return [self._load(row) for row in rows]

    def for_bucket_periods(self, entity: str, first_day: date, last_day: date) -> list[StoredJournal]:
        """Journals that contribute to buckets of [first_day, last_day], whatever their own date."""
        ids = select(ContributionRow.journal_id).where(
            ContributionRow.entity == entity,
            ContributionRow.period >= first_day,
            ContributionRow.period <= last_day,
        )
        rows = self.session.exec(
            select(JournalRow).where(JournalRow.id.in_(ids)).order_by(JournalRow.txn_date, JournalRow.id)
        ).scalars()
        return [self._load(row) for row in rows]

    def set_status(
        self,
        journal_id: int,
        status: str,
        *,
        now: datetime,
        ledger_id: str | None = None,
        error: str | None = None,
    ) -> None:
        row = self.session.get(JournalRow, journal_id)
        if row is None:
            raise KeyError(journal_id)
        row.status = status
        if ledger_id is not None:
            row.ledger_id = ledger_id
        if status == "posted":
            row.posted_at, row.last_error = now, None
        if error is not None:
            row.last_error = error
        self.session.add(row)

    def replan(self, journal_id: int, *, run_id: str | None) -> None:
        """Put a journal back in line under a new posting generation (so a new idempotency key).

        For a rejected journal planned again with the same content, and for a posted journal that has
        disappeared from the ledger: the key stays, the request id changes, so the ledger's idempotency
        cache cannot replay the old answer.
        """
        row = self.session.get(JournalRow, journal_id)
        if row is None:
            raise KeyError(journal_id)
        row.generation += 1
        row.status = "planned"
        row.ledger_id = None
        row.planned_run_id = run_id
        self.session.add(row)

    def start_attempt(self, journal_id: int, *, run_id: str | None, request_id: str, now: datetime) -> int:
        row = self.session.get(JournalRow, journal_id)
        if row is None:
            raise KeyError(journal_id)
        row.attempts += 1
        row.status = "posting"
        self.session.add(row)
        attempt = PostingAttemptRow(
            journal_id=journal_id,
            run_id=run_id,
            attempt_no=row.attempts,
            started_at=now,
            request_id=request_id,
        )
        self.session.add(attempt)
        self.session.flush()
        return attempt.id  # type: ignore[return-value]

    def finish_attempt(
        self,
        attempt_id: int,
        outcome: str,
        *,
        now: datetime,
        ledger_id: str | None = None,
        error_class: str | None = None,
        error_message: str | None = None,
    ) -> None:
        attempt = self.session.get(PostingAttemptRow, attempt_id)
        if attempt is None:
            raise KeyError(attempt_id)
        attempt.outcome, attempt.finished_at = outcome, now
        attempt.ledger_id, attempt.error_class, attempt.error_message = ledger_id, error_class, error_message
        self.session.add(attempt)

    def attempts(self, journal_id: int) -> list[PostingAttemptRow]:
        return list(
            self.session.exec(
                select(PostingAttemptRow)
                .where(PostingAttemptRow.journal_id == journal_id)
                .order_by(PostingAttemptRow.id)
            ).scalars()
        )

    def _load(self, row: JournalRow) -> StoredJournal:
        lines = self.session.exec(
            select(JournalLineRow).where(JournalLineRow.journal_id == row.id).order_by(JournalLineRow.line_no)
        ).scalars()
        contributions = self.session.exec(
            select(ContributionRow).where(ContributionRow.journal_id == row.id).order_by(ContributionRow.id)
        ).scalars()
        journal = Journal(
            key=row.key,
            entity=row.entity,
            kind=JournalKind(row.kind),
            txn_date=row.txn_date,
            currency=row.currency,
            lines=tuple(
                JournalLine(LedgerTarget.from_key(ln.target_key), ln.amount, ln.description) for ln in lines
            ),
            memo=row.memo,
            contributions=tuple(Contribution(_bucket_of(c), c.amount) for c in contributions),
            original_date=row.original_date,
            exchange_rate=row.exchange_rate,
            provider=row.provider,
            provider_account=row.provider_account,
        )
        return StoredJournal(
            id=row.id,  # type: ignore[arg-type]
            journal=journal,
            status=row.status,
            ledger=row.ledger,
            ledger_id=row.ledger_id,
            generation=row.generation,
            attempts=row.attempts,
            hold_reason=row.hold_reason,
            last_error=row.last_error,
        )


def _bucket_of(row: ContributionRow) -> Bucket:
    return Bucket(
        entity=row.entity,
        kind=JournalKind(row.kind),
        period=row.period,
        provider=row.provider,
        provider_account=row.provider_account,
        target=LedgerTarget.from_key(row.target_key),
        currency=row.currency,
    )


# --------------------------------------------------------------------------------------- invoices, recon


class InvoiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, row: InvoiceRow) -> bool:
        """Store an invoice; an invoice already stored under the same number is replaced. True if new."""
        existing = self.session.exec(
            select(InvoiceRow).where(
                InvoiceRow.provider == row.provider,
                InvoiceRow.provider_account == row.provider_account,
                InvoiceRow.number == row.number,
            )
        ).scalar()
        if existing:
            for name in (
                "entity",
                "period",
                "issue_date",
                "total",
                "currency",
                "lines",
                "source",
                "imported_at",
            ):
                setattr(existing, name, getattr(row, name))
            self.session.add(existing)
            return False
        self.session.add(row)
        return True

    def for_period(self, entity: str, period: str) -> list[InvoiceRow]:
        return list(
            self.session.exec(
                select(InvoiceRow).where(InvoiceRow.entity == entity, InvoiceRow.period == period)
            ).scalars()
        )


class ReconciliationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ReconciliationRow) -> None:
        self.session.add(row)

    def latest(self, entity: str, period: str) -> list[ReconciliationRow]:
        rows = list(
            self.session.exec(
                select(ReconciliationRow)
                .where(ReconciliationRow.entity == entity, ReconciliationRow.period == period)
                .order_by(ReconciliationRow.id.desc())
            ).scalars()
        )
        seen, latest = set(), []
        for row in rows:
            key = (row.provider, row.provider_account)
            if key not in seen:
                seen.add(key)
                latest.append(row)
        return latest


# -------------------------------------------------------------------------------------------- unit of work


class UnitOfWork:
    """One transaction over the store, with every repository bound to it."""

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
        self.allocations = AllocationRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.invoices = InvoiceRepository(self.session)
        self.reconciliations = ReconciliationRepository(self.session)
        return self

    def __exit__(self, *exc: Any) -> None:
        # close() discards an uncommitted transaction and, unlike rollback(), leaves the objects read in
        # this unit of work readable afterwards
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
