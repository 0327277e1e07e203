"""The inputs aggregate: invoices, reconciliations, file imports (with quarantine), credit lots and the
customer credit ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlmodel import Session, col

from connector.domain.credits import (
    CreditLot,
    CustomerCreditEvent,
    CustomerCreditKind,
    GrantBalance,
    LotVoid,
    grant_balances,
)
from connector.domain.imports import QuarantinedRow
from connector.domain.invoices import Invoice
from connector.domain.money import ZERO
from connector.domain.prepaid import lot_order
from connector.domain.reconcile import ReconResult
from connector.store.records import (
    FactMark,
    ImportRecord,
    InvoiceRecord,
    QuarantineRecord,
    ReconciliationRecord,
    record_of,
)
from connector.store.tables import (
    CreditLotRow,
    CustomerCreditEventRow,
    FactMarkRow,
    ImportRow,
    InvoiceRow,
    QuarantineRow,
    ReconciliationRow,
)

# --------------------------------------------------------------------------------------- invoices, recon


class InvoiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, invoice: Invoice, *, imported_at: datetime) -> bool:
        """Store an invoice; an invoice already stored under the same number is replaced. True if new."""
        lines = [
            {"description": ln.description, "amount": str(ln.amount), "kind": ln.kind} for ln in invoice.lines
        ]
        key = {
            "provider": invoice.provider,
            "provider_account": invoice.provider_account,
            "number": invoice.number,
        }
        values = {
            "entity": invoice.entity,
            "period": invoice.period,
            "issue_date": invoice.issue_date,
            "total": invoice.total,
            "currency": invoice.currency,
            "lines": lines,
            "source": invoice.source,
            "imported_at": imported_at,
        }
        return upsert_row(self.session, InvoiceRow, key, values)

    def for_period(self, entity: str, period: str) -> list[InvoiceRecord]:
        query = select(InvoiceRow).where(col(InvoiceRow.entity) == entity, col(InvoiceRow.period) == period)
        return [
            record_of(row, InvoiceRecord)
            for row in self.session.execute(query.order_by(col(InvoiceRow.id))).scalars()
        ]

    def summary(self, entity: str) -> list:
        return stamp_summary(self.session, InvoiceRow, entity, col(InvoiceRow.imported_at))

    def for_entity(self, entity: str) -> list[InvoiceRecord]:
        query = (
            select(InvoiceRow)
            .where(col(InvoiceRow.entity) == entity)
            .order_by(col(InvoiceRow.period), col(InvoiceRow.id))
        )
        return [record_of(row, InvoiceRecord) for row in self.session.execute(query).scalars()]


class ReconciliationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, result: ReconResult, *, run_id: str | None, created_at: datetime) -> None:
        """Store one reconciliation's figures, status and findings (each explained amount a finding too)."""
        d = result.input
        self.session.add(
            ReconciliationRow(
                run_id=run_id,
                entity=d.entity,
                provider=d.provider,
                provider_account=d.provider_account,
                period=d.period,
                currency=d.currency,
                provider_cost=result.provider_cost,
                invoice_total=d.invoice_total,
                posted_total=d.posted_total,
                books_currency=d.ledger_currency,
                posted_in_books=d.posted_in_ledger_currency,
                ledger_total=d.ledger_total,
                status=result.status.value,
                findings=[f.as_dict() for f in result.findings]
                + [{"explained": label, "amount": str(amount)} for label, amount in result.explained],
                created_at=created_at,
                coverage=result.coverage,
                variance=result.variance,
                tolerance=d.tolerance.allowance(d.invoice_total or ZERO),
            )
        )

    def latest_period(self, entity: str) -> str | None:
        """The newest period the entity has reconciled, as YYYY-MM."""
        return self.session.execute(
            select(func.max(col(ReconciliationRow.period))).where(col(ReconciliationRow.entity) == entity)
        ).scalar()

    def latest(self, entity: str, period: str) -> list[ReconciliationRecord]:
        """The newest reconciliation of each provider account of the entity in `period`."""
        rows = list(
            self.session.execute(
                select(ReconciliationRow)
                .where(col(ReconciliationRow.entity) == entity, col(ReconciliationRow.period) == period)
                .order_by(col(ReconciliationRow.id).desc())
            ).scalars()
        )
        seen, latest = set(), []
        for row in rows:
            key = (row.provider, row.provider_account)
            if key not in seen:
                seen.add(key)
                latest.append(record_of(row, ReconciliationRecord))
        return latest


class ImportRepository:
    """File imports, each with its tally and its quarantined rows."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, record: ImportRecord, quarantined: Iterable[QuarantinedRow], now: datetime) -> None:
        row = ImportRow(**asdict(record))
        self.session.add(row)
        self.session.flush()
        values = [
            {
                "import_id": row.id,
                "file": q.problem.source,
                "location": q.problem.location,
                "column": q.problem.field,
                "reason": q.problem.message,
                "fix": q.problem.fix,
                "raw": q.raw,
                "amount": q.amount,
                "currency": q.currency,
                "created_at": now,
            }
            for q in quarantined
        ]
        if values:
            self.session.execute(insert(QuarantineRow), values)

    def get(self, import_id: str) -> ImportRecord | None:
        row = self.session.get(ImportRow, import_id)
        return record_of(row, ImportRecord) if row else None

    def already_imported(self, kind: str, sha256: str) -> ImportRecord | None:
        """The last successful or partial import of a file with this content, if any."""
        row = self.session.execute(
            select(ImportRow)
            .where(
                col(ImportRow.kind) == kind,
                col(ImportRow.sha256) == sha256,
                col(ImportRow.status) != "failed",
            )
            .order_by(col(ImportRow.imported_at).desc())
            .limit(1)
        ).scalar()
        return record_of(row, ImportRecord) if row else None

    def latest(self, limit: int = 20) -> list[ImportRecord]:
        rows = self.session.execute(
            select(ImportRow).order_by(col(ImportRow.imported_at).desc()).limit(limit)
        ).scalars()
        return [record_of(row, ImportRecord) for row in rows]

    def quarantined_between(
        self, entity: str, first: datetime, last: datetime
    ) -> list[tuple[ImportRecord, QuarantineRecord]]:
        """The rows the entity's imports made in [first, last) refused, with their import."""
        query = (
            select(ImportRow, QuarantineRow)
            .join(QuarantineRow, col(QuarantineRow.import_id) == col(ImportRow.id))
            .where(
                col(ImportRow.entity) == entity,
                col(ImportRow.imported_at) >= first,
                col(ImportRow.imported_at) < last,
            )
            .order_by(col(ImportRow.imported_at), col(QuarantineRow.id))
        )
        return [
            (record_of(row, ImportRecord), record_of(quarantined, QuarantineRecord))
            for row, quarantined in self.session.execute(query).all()
        ]

    def quarantined(self, import_id: str) -> list[QuarantineRecord]:
        query = (
            select(QuarantineRow)
            .where(col(QuarantineRow.import_id) == import_id)
            .order_by(col(QuarantineRow.id))
        )
        return [record_of(row, QuarantineRecord) for row in self.session.execute(query).scalars()]


def stamp_summary(session: Session, table: Any, entity: str, stamp: Any) -> list:
    """How many rows an entity has in `table`, and the newest `stamp` (any import or change moves one)."""
    row = session.execute(select(func.count(), func.max(stamp)).where(table.entity == entity)).one()
    return [row[0], row[1]]


def upsert_row(session: Session, table: Any, key: dict[str, Any], values: dict[str, Any]) -> bool:
    """Insert a row, or update the one with the same natural `key` columns. True when it is new."""
    row = session.execute(select(table).filter_by(**key)).scalar()
    new = row is None
    row = row or table(**key, **values)
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    return new


def row_to_lot(row: CreditLotRow) -> CreditLot:
    return CreditLot(
        entity=row.entity,
        provider=row.provider,
        provider_account=row.provider_account,
        lot_id=row.lot_id,
        purchase_date=row.purchase_date,
        amount=row.amount,
        currency=row.currency,
        expires_on=row.expires_on,
        description=row.description,
        source=row.source,
        pool=row.pool,
        refund_of=row.refund_of,
        promotional=bool(row.promotional),
        void=None if row.voided_at is None else LotVoid(row.voided_at, row.voided_by, row.void_reason),
    )


class FactMarkRepository:
    """What changed facts since the last plan: each import or pull that changed an entity's facts leaves the
    earliest posting day it changed, so that the next plan books days the nightly window no longer covers."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, entity: str, plan_from: date, *, changed_by: str, now: datetime) -> None:
        self.session.add(
            FactMarkRow(entity=entity, plan_from=plan_from, changed_by=changed_by, recorded_at=now)
        )

    def plan_from(self, entity: str) -> FactMark | None:
        """The earliest day the entity's unplanned imports, pulls and lot changes changed, if any."""
        day, through = self.session.execute(
            select(func.min(col(FactMarkRow.plan_from)), func.max(col(FactMarkRow.id))).where(
                col(FactMarkRow.entity) == entity
            )
        ).one()
        if day is None:
            return None
        by = self.session.execute(
            select(col(FactMarkRow.changed_by))
            .where(col(FactMarkRow.entity) == entity, col(FactMarkRow.plan_from) == day)
            .distinct()
            .order_by(col(FactMarkRow.changed_by))
        ).scalars()
        return FactMark(day, through, tuple(by))

    def planned(self, entity: str, mark: FactMark) -> None:
        """The changes `mark` covers are booked; a mark left since (an import while the plan ran) stays."""
        self.session.execute(
            delete(FactMarkRow).where(col(FactMarkRow.entity) == entity, col(FactMarkRow.id) <= mark.through)
        )


class CreditLotRepository:
    """Prepaid credit lots. `for_account` lists them in the order consumption draws them: FIFO by expiry.

    A voided lot (recorded in error) stays stored; `find` and `for_entity(…, voided=True)` return it,
    what draws, counts or lists lots for the books does not."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, lot: CreditLot, *, import_id: str | None, now: datetime) -> bool:
        """Store a lot; a lot already stored under the same provider, account and id is replaced. True if new."""
        key = {"provider": lot.provider, "provider_account": lot.provider_account, "lot_id": lot.lot_id}
        names = (
            "entity",
            "purchase_date",
            "amount",
            "currency",
            "expires_on",
            "description",
            "source",
            "pool",
            "refund_of",
            "promotional",
        )
        values = {name: getattr(lot, name) for name in names}
        stored = self.session.execute(select(CreditLotRow).filter_by(**key)).scalar()
        if stored is not None and stored.voided_at is not None:
            # a voided lot stored again is in force again (a FOCUS export that holds its purchase again)
            values |= {"voided_at": None, "voided_by": "", "void_reason": ""}
        if stored is None or stored.voided_at is not None or _draws_differ(stored, values):
            # new, in force again or changed: its draws belong to days from its purchase on (the earlier
            # of its old and new purchase days), which may be long planned — the next plan books them again
            days = [lot.purchase_date, *([stored.purchase_date] if stored is not None else [])]
            self._changed(lot, min(days), now)
        return upsert_row(
            self.session, CreditLotRow, key, {**values, "import_id": import_id, "recorded_at": now}
        )

    def void(self, lot: CreditLot, void: LotVoid) -> None:
        """Mark a stored lot void (never deleted); the next plan books the change from its purchase day."""
        row = self._row(lot.provider, lot.provider_account, lot.lot_id)
        row.voided_at, row.voided_by, row.void_reason = void.at, void.by, void.reason
        self.session.add(row)
        self._changed(lot, lot.purchase_date, void.at)

    def _changed(self, lot: CreditLot, plan_from: date, now: datetime) -> None:
        """A lot's draws changed from `plan_from` on: the same mark an import that changed facts leaves
        (`FactMarkRepository`), in the same transaction, so the next plan reaches back to it and clears it
        only once that plan has read the lot."""
        self.session.add(
            FactMarkRow(
                entity=lot.entity,
                plan_from=plan_from,
                changed_by=f"lot {lot.provider}/{lot.provider_account}/{lot.lot_id}",
                recorded_at=now,
            )
        )

    def _row(self, provider: str, provider_account: str, lot_id: str) -> CreditLotRow:
        return self.session.execute(
            select(CreditLotRow).filter_by(
                provider=provider, provider_account=provider_account, lot_id=lot_id
            )
        ).scalar_one()

    def find(self, provider: str, provider_account: str, lot_id: str) -> CreditLot | None:
        """The lot stored under this provider, account and id, if any."""
        row = self.session.execute(
            select(CreditLotRow).filter_by(
                provider=provider, provider_account=provider_account, lot_id=lot_id
            )
        ).scalar()
        return row_to_lot(row) if row is not None else None

    def rename(self, provider: str, provider_account: str, lot_id: str, new_id: str) -> None:
        """Give a stored lot another id (its row, import and history stay)."""
        row = self._row(provider, provider_account, lot_id)
        row.lot_id = new_id
        self.session.add(row)

    def for_entity(self, entity: str, *, voided: bool = False) -> list[CreditLot]:
        """The entity's lots in force (with `voided`, the voided ones too), oldest purchase first."""
        query = select(CreditLotRow).where(col(CreditLotRow.entity) == entity)
        if not voided:
            query = query.where(col(CreditLotRow.voided_at).is_(None))
        rows = self.session.execute(
            query.order_by(col(CreditLotRow.purchase_date), col(CreditLotRow.id))
        ).scalars()
        return [row_to_lot(row) for row in rows]

    def named(self, entity: str, lot_id: str) -> list[CreditLot]:
        """The entity's lots stored under `lot_id` (one per provider account that used it), voided too."""
        rows = self.session.execute(
            select(CreditLotRow).where(col(CreditLotRow.entity) == entity, col(CreditLotRow.lot_id) == lot_id)
        ).scalars()
        return [row_to_lot(row) for row in rows]

    def summary(self, entity: str) -> list:
        """The lots' stamp for a plan's fingerprint: a lot recorded, changed or voided moves it."""
        voided = self.session.execute(
            select(func.max(col(CreditLotRow.voided_at))).where(col(CreditLotRow.entity) == entity)
        ).scalar()
        return [*stamp_summary(self.session, CreditLotRow, entity, col(CreditLotRow.recorded_at)), voided]

    def accounts(self, entity: str) -> set[tuple[str, str]]:
        """Every (provider, provider account) the entity holds credit lots for."""
        rows = self.session.execute(
            select(col(CreditLotRow.provider), col(CreditLotRow.provider_account))
            .where(col(CreditLotRow.entity) == entity)
            .distinct()
        )
        return {(provider, account) for provider, account in rows}

    def for_account(self, entity: str, provider: str, provider_account: str) -> list[CreditLot]:
        """The account's lots, soonest expiry first (never-expiring last), then oldest purchase first."""
        lots = [
            lot
            for lot in self.for_entity(entity)
            if lot.provider == provider and lot.provider_account == provider_account
        ]
        return sorted(lots, key=lambda lot: lot_order(lot.as_prepaid()))


def row_to_customer_event(row: CustomerCreditEventRow) -> CustomerCreditEvent:
    return CustomerCreditEvent(
        entity=row.entity,
        event_id=row.event_id,
        customer=row.customer,
        grant_id=row.grant_id,
        kind=CustomerCreditKind(row.kind),
        event_date=row.event_date,
        amount=row.amount,
        currency=row.currency,
        product=row.product,
        expires_on=row.expires_on,
        source=row.source,
    )


class CustomerCreditRepository:
    """The credits you sell: purchases, redemptions, refunds and expiries per customer and grant."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, event: CustomerCreditEvent, *, import_id: str | None, now: datetime) -> bool:
        """Store an event; one already stored under the same entity and event id is replaced. True if new."""
        key = {"entity": event.entity, "event_id": event.event_id}
        names = (
            "customer",
            "grant_id",
            "event_date",
            "amount",
            "currency",
            "product",
            "expires_on",
            "source",
        )
        values = {name: getattr(event, name) for name in names}
        values |= {"kind": event.kind.value, "import_id": import_id, "recorded_at": now}
        return upsert_row(self.session, CustomerCreditEventRow, key, values)

    def for_entity(self, entity: str, until: date | None = None) -> list[CustomerCreditEvent]:
        query = select(CustomerCreditEventRow).where(col(CustomerCreditEventRow.entity) == entity)
        if until:
            query = query.where(col(CustomerCreditEventRow.event_date) <= until)
        rows = self.session.execute(
            query.order_by(col(CustomerCreditEventRow.event_date), col(CustomerCreditEventRow.id))
        ).scalars()
        return [row_to_customer_event(row) for row in rows]

    def summary(self, entity: str) -> list:
        return stamp_summary(
            self.session, CustomerCreditEventRow, entity, col(CustomerCreditEventRow.recorded_at)
        )

    def balances(self, entity: str, until: date | None = None) -> dict[str, GrantBalance]:
        return grant_balances(self.for_entity(entity, until))

    def products(self) -> dict[tuple[str, str], list[str]]:
        """(entity, product) → the grants sold as that product (purchases), for checking the policies."""
        rows = self.session.execute(
            select(
                col(CustomerCreditEventRow.entity),
                col(CustomerCreditEventRow.product),
                col(CustomerCreditEventRow.grant_id),
            )
            .where(col(CustomerCreditEventRow.kind) == "purchase")
            .order_by(col(CustomerCreditEventRow.grant_id))
        )
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entity, product, grant in rows:
            found[(entity, product or "")].append(grant)
        return dict(found)


# what a lot's draws depend on: another value changes which usage it pays for, and when
DRAWN_BY = ("purchase_date", "amount", "currency", "expires_on", "pool", "promotional", "entity")


def _draws_differ(stored: CreditLotRow, values: dict) -> bool:
    return any(getattr(stored, name) != values[name] for name in DRAWN_BY)
