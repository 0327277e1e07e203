"""The console's stored summaries: what a page needs, as computed after the last change to the books.

The close checklist reads the whole outbox up to the period's end, the books' inputs and the stored
reconciliations; the overview's spend by month reads every posted bucket of a year — too much to
recompute on every page view of a year of books. They are computed when a run finishes (`service/after_run.py`)
and kept here by name (`close:2026-09`, `spend:2025-11..2026-10`) with the books' **stamp**: a digest of
everything they depend on (the outbox's journals and their statuses, invoices, credit lots, customer
credits, the newest reconciliation and run, the mapping and policy versions). A page computes the stamp
(a handful of aggregate queries) and reads the stored summary only when the stamp is the same; otherwise
it is stale and computed again. Bound to the unit of work as `uow.console_summaries`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_type_hints

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from connector.domain.close import AccrualLine, Checklist, DeferredLine, HeldJournal, LotLine
from connector.domain.periods import Period
from connector.store.tables import ConsoleSummaryRow, JournalRow, ReconciliationRow, RunRow


class ConsoleSummaries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def stamp(self, entity: str, *, versions: list[str], summaries: list) -> str:
        """The books' state for `entity`: `versions` (mapping and policy content hashes) and `summaries`
        (the other repositories' count-and-newest summaries), with the outbox's journals by status and the
        newest reconciliation and finished run. Approving, posting, reconciling or importing moves it."""
        by_status = self.session.execute(
            select(JournalRow.status, func.count(), func.max(JournalRow.id))
            .where(JournalRow.entity == entity)
            .group_by(JournalRow.status)
            .order_by(JournalRow.status)
        ).all()
        reconciled = self.session.execute(
            select(func.max(ReconciliationRow.id)).where(ReconciliationRow.entity == entity)
        ).scalar()
        finished = self.session.execute(
            select(func.max(RunRow.finished_at)).where(RunRow.entity == entity)
        ).scalar()
        parts = [versions, summaries, [list(r) for r in by_status], reconciled, finished]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()

    def get(self, entity: str, name: str, stamp: str) -> tuple[Any, datetime] | None:
        """The stored summary `name` (as JSON) and when it was computed, if computed at this `stamp`."""
        row = self.session.get(ConsoleSummaryRow, (entity, name))
        if row is None or row.stamp != stamp:
            return None
        return row.data, row.computed_at

    def save(self, entity: str, name: str, data: Any, stamp: str, now: datetime) -> None:
        """Store (or replace) a summary. An upsert: two pages storing the same summary at once never
        conflict (on SQLite and PostgreSQL alike); the later one stands."""
        table = ConsoleSummaryRow.__table__
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        values = {"stamp": stamp, "computed_at": now, "data": data}
        self.session.execute(
            dialect.insert(table)
            .values(entity=entity, name=name, **values)
            .on_conflict_do_update(index_elements=[table.c.entity, table.c.name], set_=values)
        )


# ------------------------------------------------------------------------------------- the checklist as JSON

LINES = {"accruals": AccrualLine, "lots": LotLine, "deferred": DeferredLine}
JOURNALS = ("held", "unposted")


def checklist_data(checklist: Checklist) -> dict:
    """The checklist as JSON: amounts as exact decimal text, days as ISO dates."""
    return {
        "period": str(checklist.period),
        **{name: [_plain(line) for line in getattr(checklist, name)] for name in (*LINES, *JOURNALS)},
        "suspense": {currency: str(amount) for currency, amount in checklist.suspense.items()},
        "reconciliation": [list(r) for r in checklist.reconciliation],
        "reconciliation_notes": [[*key, note] for key, note in checklist.reconciliation_notes.items()],
    }


def checklist_from_data(data: dict) -> Checklist:
    result = Checklist(Period.parse(data["period"]))
    for name, cls in LINES.items():
        setattr(result, name, [_typed(cls, line) for line in data[name]])
    for name in JOURNALS:
        setattr(result, name, [_typed(HeldJournal, line) for line in data[name]])
    result.suspense = {currency: Decimal(amount) for currency, amount in data["suspense"].items()}
    result.reconciliation = [tuple(r) for r in data["reconciliation"]]  # type: ignore[misc]
    result.reconciliation_notes = {(p, a): note for p, a, note in data["reconciliation_notes"]}
    return result


def _plain(line: Any) -> dict:
    assert is_dataclass(line)
    return {f.name: _text(getattr(line, f.name)) for f in fields(line)}


def _text(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _typed(cls: type, data: dict) -> Any:
    """A checklist line back from JSON, each field by its declared type (Decimal, date, or as stored)."""
    hints = get_type_hints(cls)
    values = {}
    for f in fields(cls):
        value, hint = data[f.name], str(hints[f.name])
        if value is not None and "Decimal" in hint:
            value = Decimal(value)
        elif value is not None and "datetime.date" in hint:
            value = date.fromisoformat(value)
        values[f.name] = value
    return cls(**values)
