"""The outbox aggregate: journals with their contributions and lines, and every posting attempt.

A journal is stored with its deterministic key before any ledger call; its status moves through
planned, held, posting, posted, failed or rejected.
"""

from __future__ import annotations

import builtins  # `Outbox.list` shadows the builtin in the class's own annotations
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, not_, select
from sqlmodel import Session, col

from connector.domain.errors import InvariantViolation, StoreAltered
from connector.domain.finance_figures import PostedLine
from connector.domain.journals import (
    Bucket,
    Contribution,
    Journal,
    JournalKind,
    JournalLine,
    LedgerTarget,
    serial_of,
)
from connector.domain.money import ZERO
from connector.store.common import chunks
from connector.store.records import (
    ACTIVE_STATUSES,
    PENDING_STATUSES,
    AttemptRecord,
    JournalRecord,
    StoredJournal,
    record_of,
)
from connector.store.tables import (
    ContributionRow,
    JournalLineRow,
    JournalRow,
    PostingAttemptRow,
)

# ------------------------------------------------------------------------------------------------ outbox


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
            converted_from=journal.converted_from,
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
        assert row.id is not None  # the flush gave it one
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
                    pool=b.pool,
                    converted_from=c.converted_from or None,
                    source_amount=c.source_amount,
                )
            )
        return row.id

    def posted_by_bucket(
        self,
        entity: str,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        kinds: Sequence[JournalKind] | None = None,
        as_computed: bool = False,
    ) -> dict[Bucket, Decimal]:
        """Σ contributions per bucket of every journal that is not rejected: posted or on its way. With
        `as_computed`, what was converted into the books' currency counts in the currency it was computed
        in (the provider's), as the plan that booked it saw it."""
        totals: dict[Bucket, Decimal] = {}
        for row in self._active(entity, first_day, last_day, kinds):
            bucket = _bucket_of(row)
            amount = row.amount
            if as_computed and row.converted_from:
                bucket, amount = replace(bucket, currency=row.converted_from), row.source_amount or ZERO
            totals[bucket] = totals.get(bucket, ZERO) + amount
        return totals

    def posted_lines(self, entity: str, first_day: date, last_day: date) -> builtins.list[PostedLine]:
        """The contributions of every journal that is not rejected whose bucket is in [first_day, last_day]
        or that is dated in it (a correction moved out of a locked month), each with its journal's key,
        kind, date and status: what the books hold for a range of months, and where the ledger holds it."""
        # two disjoint reads, each served by an index: an OR across the two tables let no index serve either
        # side, and a month's report read the entity's whole history (docs/performance.md, verifyscale)
        period, dated = col(ContributionRow.period), col(JournalRow.txn_date)
        query = (
            select(ContributionRow, col(JournalRow.key), col(JournalRow.kind), dated)
            .add_columns(col(JournalRow.status))
            .join(JournalRow, col(JournalRow.id) == col(ContributionRow.journal_id))
            .where(col(ContributionRow.entity) == entity, col(JournalRow.status).in_(ACTIVE_STATUSES))
        )
        in_range = query.where(period.between(first_day, last_day))
        moved_into_it = query.where(  # a journal's entity is its contributions': by (entity, txn_date)
            col(JournalRow.entity) == entity,
            dated.between(first_day, last_day),
            not_(period.between(first_day, last_day)),
        )
        return [  # in no order: the report sums them
            PostedLine(_bucket_of(row), row.amount, key, JournalKind(kind), txn_date, status)
            for part in (in_range, moved_into_it)
            for row, key, kind, txn_date, status in self.session.execute(part).all()
        ]

    def posted_converted(
        self, entity: str, first_day: date
    ) -> dict[Bucket, dict[str, tuple[Decimal, Decimal]]]:
        """What was converted into the books' currency from `first_day` on, per bucket (in the books'
        currency) and currency it was converted from: Σ the books' amounts and Σ the amounts before it."""
        totals: dict[Bucket, dict[str, tuple[Decimal, Decimal]]] = {}
        for row in self._active(entity, first_day, None, None):
            if row.converted_from:
                parts = totals.setdefault(_bucket_of(row), {})
                booked, source = parts.get(row.converted_from, (ZERO, ZERO))
                parts[row.converted_from] = (booked + row.amount, source + (row.source_amount or ZERO))
        return totals

    def _active(
        self,
        entity: str,
        first_day: date | None,
        last_day: date | None,
        kinds: Sequence[JournalKind] | None,
    ) -> Iterable[ContributionRow]:
        """The contributions of every journal that is not rejected, in a range of days and kinds."""
        query = (
            select(ContributionRow)
            .join(JournalRow, col(JournalRow.id) == col(ContributionRow.journal_id))
            .where(col(ContributionRow.entity) == entity, col(JournalRow.status).in_(ACTIVE_STATUSES))
        )
        if first_day:
            query = query.where(col(ContributionRow.period) >= first_day)
        if last_day:
            query = query.where(col(ContributionRow.period) <= last_day)
        if kinds:
            query = query.where(col(ContributionRow.kind).in_([k.value for k in kinds]))
        return self.session.execute(query).scalars()

    def keys_by_bucket(
        self, entity: str, kinds: Sequence[JournalKind], first_day: date, last_day: date
    ) -> dict[Bucket, builtins.list[tuple[int, str]]]:
        """The active journals contributing to each bucket of `kinds` in the range, as (outbox order, key)."""
        query = (
            select(ContributionRow, col(JournalRow.id), col(JournalRow.key))
            .join(JournalRow, col(JournalRow.id) == col(ContributionRow.journal_id))
            .where(
                col(ContributionRow.entity) == entity,
                col(JournalRow.status).in_(ACTIVE_STATUSES),
                col(ContributionRow.kind).in_([k.value for k in kinds]),
                col(ContributionRow.period) >= first_day,
                col(ContributionRow.period) <= last_day,
            )
            .order_by(col(JournalRow.id))
        )
        found: dict[Bucket, builtins.list[tuple[int, str]]] = defaultdict(list)
        for row, journal_id, key in self.session.execute(query).all():
            found[_bucket_of(row)].append((journal_id, key))
        return dict(found)

    def summary(self, entity: str) -> list:
        """How many active (not rejected) journals the entity has, and the newest journal's id."""
        active = self.session.execute(
            select(func.count()).where(
                col(JournalRow.entity) == entity, col(JournalRow.status).in_(ACTIVE_STATUSES)
            )
        ).scalar()
        newest = self.session.execute(
            select(func.max(col(JournalRow.id))).where(col(JournalRow.entity) == entity)
        ).scalar()
        return [active, newest]

    def used_serials(self, entity: str) -> dict[str, int]:
        """The highest serial per key prefix already in the outbox (rejected journals included)."""
        serials: dict[str, int] = {}
        for key in self.session.execute(
            select(col(JournalRow.key)).where(col(JournalRow.entity) == entity)
        ).scalars():
            prefix = key[: key.rfind("-") + 1]
            serials[prefix] = max(serials.get(prefix, 0), serial_of(key))
        return serials

    def pending(self, entity: str) -> builtins.list[StoredJournal]:
        rows = self.session.execute(
            select(JournalRow)
            .where(col(JournalRow.entity) == entity, col(JournalRow.status).in_(PENDING_STATUSES))
            .order_by(col(JournalRow.txn_date), col(JournalRow.id))
        ).scalars()
        return [self._load(row) for row in rows]

    def by_key(self, entity: str, key: str) -> StoredJournal | None:
        row = self.session.execute(
            select(JournalRow).where(col(JournalRow.entity) == entity, col(JournalRow.key) == key)
        ).scalar()
        return self._load(row) if row else None

    def list(
        self,
        entity: str,
        *,
        statuses: Sequence[str] | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> builtins.list[StoredJournal]:
        query = select(JournalRow).where(col(JournalRow.entity) == entity)
        if statuses:
            query = query.where(col(JournalRow.status).in_(statuses))
        if first_day:
            query = query.where(col(JournalRow.txn_date) >= first_day)
        if last_day:
            query = query.where(col(JournalRow.txn_date) <= last_day)
        rows = self.session.execute(query.order_by(col(JournalRow.txn_date), col(JournalRow.id))).scalars()
        return [self._load(row) for row in rows]

    def held_by_run(self, entity: str, run_id: str) -> builtins.list[StoredJournal]:
        """The journals a run planned that still wait for approval."""
        rows = self.session.execute(
            select(JournalRow)
            .where(
                col(JournalRow.entity) == entity,
                col(JournalRow.planned_run_id) == run_id,
                col(JournalRow.status) == "held",
            )
            .order_by(col(JournalRow.txn_date), col(JournalRow.id))
        ).scalars()
        return [self._load(row) for row in rows]

    def earliest_rejected_period(self, entity: str) -> date | None:
        """The first bucket period of a rejected journal: the plan must reach back to re-plan it."""
        return self.session.execute(
            select(func.min(col(ContributionRow.period)))
            .join(JournalRow, col(JournalRow.id) == col(ContributionRow.journal_id))
            .where(col(ContributionRow.entity) == entity, col(JournalRow.status) == "rejected")
        ).scalar()

    def for_bucket_periods(
        self, entity: str, first_day: date, last_day: date
    ) -> builtins.list[StoredJournal]:
        """Journals that contribute to buckets of [first_day, last_day], whatever their own date."""
        ids = select(col(ContributionRow.journal_id)).where(
            col(ContributionRow.entity) == entity,
            col(ContributionRow.period) >= first_day,
            col(ContributionRow.period) <= last_day,
        )
        rows = self.session.execute(
            select(JournalRow)
            .where(col(JournalRow.id).in_(ids))
            .order_by(col(JournalRow.txn_date), col(JournalRow.id))
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

    def approve(self, journal_id: int, approver: str) -> None:
        """Release a held journal for the next posting, recording who approved it."""
        row = self.session.get(JournalRow, journal_id)
        if row is None:
            raise KeyError(journal_id)
        row.status, row.approved_by = "planned", approver
        self.session.add(row)

    def approvers(self, journal_ids: Sequence[int]) -> dict[int, str]:
        """Who released each of these journals, for those an approver released."""
        found: dict[int, str] = {}
        for chunk in chunks(sorted(journal_ids)):
            query = select(col(JournalRow.id), col(JournalRow.approved_by)).where(
                col(JournalRow.id).in_(chunk), col(JournalRow.approved_by).is_not(None)
            )
            found.update((id_, who) for id_, who in self.session.execute(query))
        return found

    def planned_by(self, journal_id: int) -> str | None:
        """The id of the run that planned the journal (None for one planned before runs were recorded)."""
        return self.session.execute(
            select(col(JournalRow.planned_run_id)).where(col(JournalRow.id) == journal_id)
        ).scalar()

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

    def last_attempt_started(self, journal_ids: Sequence[int]) -> dict[int, datetime]:
        """When the latest posting attempt of each of these journals started (journals never tried: absent)."""
        if not journal_ids:
            return {}
        rows = self.session.execute(
            select(col(PostingAttemptRow.journal_id), func.max(col(PostingAttemptRow.started_at)))
            .where(col(PostingAttemptRow.journal_id).in_(list(journal_ids)))
            .group_by(col(PostingAttemptRow.journal_id))
        ).all()
        return {journal_id: started for journal_id, started in rows if started is not None}

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

    def attempts(self, journal_ids: Sequence[int]) -> builtins.list[AttemptRecord]:
        """Every posting attempt of these journals, in the order they were made."""
        found: builtins.list[AttemptRecord] = []
        for chunk in chunks(list(journal_ids)):
            query = select(PostingAttemptRow).where(col(PostingAttemptRow.journal_id).in_(chunk))
            found += [record_of(r, AttemptRecord) for r in self.session.execute(query).scalars()]
        return sorted(found, key=lambda a: a.id)

    def records_for_period(
        self, entity: str, first_day: date, last_day: date
    ) -> builtins.list[JournalRecord]:
        """Journals dated in the period, and journals that post amounts for it (e.g. moved out of a lock)."""
        ids = {s.id for s in self.for_bucket_periods(entity, first_day, last_day)}
        ids |= {s.id for s in self.list(entity, first_day=first_day, last_day=last_day)}
        found: builtins.list[JournalRecord] = []
        for chunk in chunks(sorted(ids)):
            query = select(JournalRow).where(col(JournalRow.id).in_(chunk))
            found += [record_of(r, JournalRecord) for r in self.session.execute(query).scalars()]
        return sorted(found, key=lambda j: (j.txn_date, j.id))

    @staticmethod
    def _journal(
        row: JournalRow, lines: Iterable[JournalLineRow], contributions: Iterable[ContributionRow]
    ) -> Journal:
        return Journal(
            key=row.key,
            entity=row.entity,
            kind=JournalKind(row.kind),
            txn_date=row.txn_date,
            currency=row.currency,
            lines=tuple(
                JournalLine(LedgerTarget.from_key(ln.target_key), ln.amount, ln.description) for ln in lines
            ),
            memo=row.memo,
            contributions=tuple(
                Contribution(_bucket_of(c), c.amount, c.converted_from or "", c.source_amount)
                for c in contributions
            ),
            original_date=row.original_date,
            exchange_rate=row.exchange_rate,
            provider=row.provider,
            provider_account=row.provider_account,
            converted_from=row.converted_from,
        )

    def _load(self, row: JournalRow) -> StoredJournal:
        lines = self.session.execute(
            select(JournalLineRow)
            .where(col(JournalLineRow.journal_id) == row.id)
            .order_by(col(JournalLineRow.line_no))
        ).scalars()
        contributions = self.session.execute(
            select(ContributionRow)
            .where(col(ContributionRow.journal_id) == row.id)
            .order_by(col(ContributionRow.id))
        ).scalars()
        try:
            journal = self._journal(row, lines, contributions)
        except InvariantViolation as broken:  # tokenbooks never stores such a journal: it was altered
            raise StoreAltered(
                f"journal {row.key} of {row.entity} as stored is not a valid journal ({broken}): its rows were "
                "changed in the database, behind tokenbooks",
                fix="run `tokenbooks audit verify` to see what changed, and restore the journal's rows from a "
                "backup (docs/deployment.md) before the next sync",
            ) from None
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
        pool=row.pool,
    )
