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
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from connector.store.tables import ConsoleSummaryRow, JournalRow, ReconciliationRow, RunRow, table_of


class ConsoleSummaries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def stamp(self, entity: str, *, versions: list[str], summaries: list) -> str:
        """The books' state for `entity`: `versions` (mapping and policy content hashes) and `summaries`
        (the other repositories' count-and-newest summaries), with the outbox's journals by status and the
        newest reconciliation and finished run. Approving, posting, reconciling or importing moves it."""
        by_status = self.session.execute(
            select(col(JournalRow.status), func.count(), func.max(col(JournalRow.id)))
            .where(col(JournalRow.entity) == entity)
            .group_by(col(JournalRow.status))
            .order_by(col(JournalRow.status))
        ).all()
        reconciled = self.session.execute(
            select(func.max(col(ReconciliationRow.id))).where(col(ReconciliationRow.entity) == entity)
        ).scalar()
        finished = self.session.execute(
            select(func.max(col(RunRow.finished_at))).where(col(RunRow.entity) == entity)
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
        table = table_of(ConsoleSummaryRow)
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        values = {"stamp": stamp, "computed_at": now, "data": data}
        self.session.execute(
            dialect.insert(table)
            .values(entity=entity, name=name, **values)
            .on_conflict_do_update(index_elements=[table.c.entity, table.c.name], set_=values)
        )
