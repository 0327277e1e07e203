"""The classification aggregate: mapping and policy versions, allocations (with lineage) and ledger charts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from connector.domain.accounting_policy import PolicySet
from connector.domain.chart import LedgerAccount, LedgerChart, TrackingOption
from connector.domain.journals import (
    Bucket,
    LedgerTarget,
)
from connector.domain.mapping import Allocation, MappingSet
from connector.domain.mapping_history import VersionSpan
from connector.store.bulk import BulkInsert
from connector.store.commitments import commit_allocations
from connector.store.common import chunks, utcnow
from connector.store.facts import ALLOCATION_COLUMNS, ALLOCATIONS, FACTS, StoredFact
from connector.store.records import AllocationRecord, Lineage, PlacementRecord, VersionRecord, record_of
from connector.store.tables import (
    AllocationRow,
    FactRow,
    LedgerChartRow,
    MappingVersionRow,
    PolicyVersionRow,
    RawPayloadRow,
    table_of,
)

# ----------------------------------------------------------------------------------------- mapping, alloc


def record_version(
    session: Session, table: Any, version: Any, content: str, *, run_id: str | None, now: datetime
) -> bool:
    """Store a version of a controller's file (a mapping, the policies) the first time its content is
    seen; True when it is new. `version` has version, effective_from, change_note, content_hash, source."""
    if session.execute(select(table.id).where(table.content_hash == version.content_hash)).first():
        return False
    session.add(
        table(
            version=version.version,
            effective_from=version.effective_from,
            change_note=version.change_note,
            content_hash=version.content_hash,
            content=content,
            source=version.source,
            first_seen_at=now,
            run_id=run_id,
        )
    )
    return True


def versions(session: Session, table: Any) -> list[VersionRecord]:
    """Every stored version of the mapping or the policies (`table`), oldest first."""
    rows = session.execute(select(table).order_by(table.id)).scalars()
    values: list[dict[str, Any]] = [
        {f: getattr(row, f, None) for f in VersionRecord.__dataclass_fields__} for row in rows
    ]
    return [VersionRecord(**value) for value in values]


class MappingVersionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, mapping: MappingSet, content: str, *, run_id: str | None, now: datetime) -> bool:
        """Store a mapping version the first time it is seen; True when it is new."""
        return record_version(self.session, MappingVersionRow, mapping, content, run_id=run_id, now=now)

    def all(self) -> list[VersionRecord]:
        return versions(self.session, MappingVersionRow)


class AllocationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def replace_for_facts(
        self,
        owners: Sequence[int],
        allocations: Sequence[Allocation],
        facts: Sequence[StoredFact],
        *,
        run_id: str | None,
        now: datetime | None = None,
    ) -> int:
        """Make the stored allocations of `facts` equal to `allocations` (`owners[i]` is the id of the
        fact `allocations[i]` divides). Called chunk by chunk: a plan streams its facts.

        Only facts whose allocations differ are rewritten, so a night with no new data and no mapping
        change writes nothing, and an unchanged allocation keeps the run that placed it. Returns how
        many facts were rewritten.
        """
        keys = _TargetKeys()
        fact_ids = [stored_fact.id for stored_fact in facts]
        stored = self._placements(facts)
        changed: set[int] | None = None  # None: no fact has stored allocations, all are written
        if stored:
            wanted: dict[int, set[tuple]] = defaultdict(set)
            for fact_id, a in zip(owners, allocations, strict=True):
                wanted[fact_id].add(
                    (a.rule_id, a.mapping_version, a.category.value, keys(a.target), a.percent, a.amount)
                )
            changed = {i for i in fact_ids if stored.get(i) != wanted.get(i, set())}
            for chunk in chunks(sorted(changed)):
                self.session.connection().execute(delete(ALLOCATIONS).where(ALLOCATIONS.c.fact_id.in_(chunk)))
        rows = [
            (
                fact_id,
                a.fact.entity,
                a.fact.posting_date,
                a.fact.provider,
                a.fact.provider_account,
                a.fact.currency,
                a.category.value,
                keys(a.target),
                a.rule_id,
                a.mapping_version,
                a.percent,
                a.amount,
            )
            for fact_id, a in zip(owners, allocations, strict=True)
            if changed is None or fact_id in changed
        ]
        self._writer(run_id).write(rows)
        rewritten = fact_ids if changed is None else changed
        commit_allocations(self.session, rewritten, rows, run_id=run_id, now=now)
        return len(rewritten)

    def _writer(self, run_id: str | None) -> BulkInsert:
        return BulkInsert(
            self.session.connection(),
            ALLOCATIONS,
            ALLOCATION_COLUMNS,
            repeating=("posting_date", "percent"),
            constants={"run_id": run_id},
        )

    def _placements(self, facts: Sequence[StoredFact]) -> dict[int, set[tuple]]:
        """What the stored allocations of these facts say (rule, version, category, target, percent,
        amount), without who wrote them when: equal placements need no rewrite.

        Read per entity and posting day (an allocation has its fact's day), within the facts' id range:
        an indexed range instead of a list of ten thousand ids to bind, which PostgreSQL's driver
        spent more time preparing than the server did answering."""
        c = ALLOCATIONS.c
        ids_by_day: dict[tuple[str, date], set[int]] = defaultdict(set)
        for stored_fact in facts:
            ids_by_day[(stored_fact.fact.entity, stored_fact.fact.posting_date)].add(stored_fact.id)
        stored: dict[int, set[tuple]] = defaultdict(set)
        for (entity, day), ids in ids_by_day.items():
            query = select(
                c.fact_id, c.rule_id, c.mapping_version, c.category, c.target_key, c.percent, c.amount
            ).where(
                c.entity == entity,
                c.posting_date == day,
                c.fact_id >= min(ids),
                c.fact_id <= max(ids),
            )
            for row in self.session.connection().execute(query):
                if row[0] in ids:
                    stored[row[0]].add(tuple(row[1:]))
        return stored

    def between(self, entity: str, first_day: date, last_day: date) -> list[AllocationRecord]:
        """The entity's allocations posted from `first_day` to `last_day` (the alerts' totals)."""
        c = ALLOCATIONS.c
        query = select(c.provider, c.posting_date, c.category, c.target_key, c.amount, c.currency).where(
            c.entity == entity, c.posting_date >= first_day, c.posting_date <= last_day
        )
        return [AllocationRecord(*row) for row in self.session.connection().execute(query)]

    def for_bucket(self, bucket: Bucket, days: Sequence[date] | None = None) -> list[PlacementRecord]:
        """The allocations a posting bucket sums: of its usage `days` (`PolicyHistory.bucket_days`: a
        monthly bucket sums its month), by default of its own day."""
        query = select(AllocationRow).where(
            col(AllocationRow.entity) == bucket.entity,
            col(AllocationRow.posting_date).in_(list(days or [bucket.period])),
            col(AllocationRow.provider) == bucket.provider,
            col(AllocationRow.provider_account) == bucket.provider_account,
            col(AllocationRow.target_key) == bucket.target.key(),
        )
        return [record_of(row, PlacementRecord) for row in self.session.execute(query).scalars()]

    def for_fact(self, fact_id: int) -> list[PlacementRecord]:
        """How one fact was placed: its shares, each with the rule and mapping version (lineage)."""
        query = (
            select(AllocationRow).where(col(AllocationRow.fact_id) == fact_id).order_by(col(AllocationRow.id))
        )
        return [record_of(row, PlacementRecord) for row in self.session.execute(query).scalars()]

    def lineage(self, entity: str, first_day: date, last_day: date) -> list[Lineage]:
        """Every allocation of the entity's current facts posted in the range, with its fact and the hash
        of the raw payload the fact was read from (the auditor's lineage sheet)."""
        raw = table_of(RawPayloadRow)
        a, f, r = ALLOCATIONS.c, FACTS.c, raw.c
        query = (
            select(
                a.posting_date,
                a.provider,
                a.provider_account,
                a.currency,
                a.target_key,
                a.category,
                a.rule_id,
                a.mapping_version,
                a.amount,
                f.id,
                f.natural_key,
                f.version,
                f.amount,
                f.source,
                r.sha256,
            )
            .join(FACTS, f.id == a.fact_id)
            .outerjoin(raw, r.id == f.raw_payload_id)
            .where(
                a.entity == entity,
                a.posting_date >= first_day,
                a.posting_date <= last_day,
                f.is_current.is_(True),
            )
            .order_by(a.posting_date, a.provider, a.provider_account, a.target_key, f.id)
        )
        return [Lineage._make(row) for row in self.session.connection().execute(query)]

    def versions_by_day(self, entity: str, first_day: date, last_day: date) -> dict[date, set[int]]:
        """The mapping versions whose allocations are stored for each posting day of the range."""
        c = ALLOCATIONS.c
        query = (
            select(c.posting_date, c.mapping_version)
            .where(c.entity == entity, c.posting_date >= first_day, c.posting_date <= last_day)
            .distinct()
        )
        found: dict[date, set[int]] = defaultdict(set)
        for day, version in self.session.connection().execute(query):
            found[day].add(version)
        return dict(found)

    def earliest_stale_day(self, entity: str, spans: Sequence[VersionSpan]) -> date | None:
        """The first posting day of a current fact whose stored allocations were made by another mapping
        version than the one now in force on that day (a version that reaches into the past)."""
        days = []
        for span in spans:
            query = (
                select(func.min(col(AllocationRow.posting_date)))
                .join(FactRow, col(FactRow.id) == col(AllocationRow.fact_id))
                .where(
                    col(AllocationRow.entity) == entity,
                    col(FactRow.is_current).is_(True),
                    col(AllocationRow.mapping_version) != span.mapping.version,
                )
            )
            if span.first_day is not None:
                query = query.where(col(AllocationRow.posting_date) >= span.first_day)
            if span.last_day is not None:
                query = query.where(col(AllocationRow.posting_date) <= span.last_day)
            days.append(self.session.execute(query).scalar())
        return min((d for d in days if d is not None), default=None)


class LedgerChartRepository:
    """The cached chart of accounts and tracking options of each entity's ledger."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, entity: str) -> LedgerChart | None:
        row = self.session.get(LedgerChartRow, entity)
        if row is None:
            return None
        return LedgerChart(
            ledger=row.ledger,
            accounts=tuple(LedgerAccount(**a) for a in row.accounts),
            options=tuple(TrackingOption(**o) for o in row.options),
            fetched_at=row.fetched_at.replace(tzinfo=row.fetched_at.tzinfo or UTC),
        )

    def save(self, entity: str, chart: LedgerChart, *, run_id: str | None = None) -> None:
        row = self.session.get(LedgerChartRow, entity) or LedgerChartRow(
            entity=entity, ledger=chart.ledger, fetched_at=chart.fetched_at or utcnow()
        )
        row.ledger = chart.ledger
        row.fetched_at = chart.fetched_at or utcnow()
        row.accounts = [asdict(a) for a in chart.accounts]
        row.options = [asdict(o) for o in chart.options]
        row.run_id = run_id
        self.session.add(row)


class _TargetKeys:
    """A ledger target's key, made once per target (a million allocations share a few hundred)."""

    def __init__(self) -> None:
        self._keys: dict[LedgerTarget, str] = {}

    def __call__(self, target: LedgerTarget) -> str:
        key = self._keys.get(target)
        if key is None:
            key = self._keys[target] = target.key()
        return key


# -------------------------------------------------------------------------------------- policy versions


class PolicyVersionRepository:
    """Every version of the accounting policies file used, stored the first time it is seen."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, policies: PolicySet, content: str, *, run_id: str | None, now: datetime) -> bool:
        """Store a policy version the first time it is seen; True when it is new."""
        return record_version(self.session, PolicyVersionRow, policies, content, run_id=run_id, now=now)

    def all(self) -> list[VersionRecord]:
        return versions(self.session, PolicyVersionRow)

    def earliest_unapplied(self) -> date | None:
        """The earliest effective date of a version no plan has applied yet (the sync plans from it)."""
        return self.session.execute(
            select(func.min(col(PolicyVersionRow.effective_from))).where(
                col(PolicyVersionRow.applied_at).is_(None)
            )
        ).scalar()

    def mark_applied(self, now: datetime) -> None:
        self.session.execute(
            update(PolicyVersionRow).where(col(PolicyVersionRow.applied_at).is_(None)).values(applied_at=now)
        )
