"""Totals the service's metrics report, counted in the store (so every process's runs are in them).

Read-only queries, one per family of numbers; each returns plain mappings keyed by the labels.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session, col

from connector.domain.coverage import suspense_of_record
from connector.store.records import StoreTotals
from connector.store.tables import (
    ImportRow,
    JournalRow,
    PostingAttemptRow,
    RunRow,
)


def store_totals(session: Session, ok_statuses: tuple[str, ...]) -> StoreTotals:
    runs = {
        (kind, entity or "", status): count
        for kind, entity, status, count in session.execute(
            select(col(RunRow.kind), col(RunRow.entity), col(RunRow.status), func.count()).group_by(
                col(RunRow.kind), col(RunRow.entity), col(RunRow.status)
            )
        )
    }
    journals = {
        (entity, ledger, status): count
        for entity, ledger, status, count in session.execute(
            select(
                col(JournalRow.entity), col(JournalRow.ledger), col(JournalRow.status), func.count()
            ).group_by(col(JournalRow.entity), col(JournalRow.ledger), col(JournalRow.status))
        )
    }
    attempt_keys = (
        col(JournalRow.entity),
        col(JournalRow.ledger),
        col(PostingAttemptRow.outcome),
        col(PostingAttemptRow.error_class),
    )
    attempts = {
        (entity, ledger, outcome, error or ""): count
        for entity, ledger, outcome, error, count in session.execute(
            select(*attempt_keys, func.count())
            .join(JournalRow, col(JournalRow.id) == col(PostingAttemptRow.journal_id))
            .group_by(*attempt_keys)
        )
    }
    facts: dict[str, int] = {}
    last_suspense: dict[str, dict[tuple[str, str], Decimal]] = {}
    rows = session.execute(
        select(col(RunRow.entity), col(RunRow.status), col(RunRow.stats))
        .where(col(RunRow.kind) == "sync")
        .order_by(col(RunRow.started_at))
    )
    for entity, status, stats in rows:
        facts[entity] = facts.get(entity, 0) + int((stats or {}).get("facts_pulled", 0))
        if status in ok_statuses:  # ordered by start: the last successful run's figures stay
            last_suspense[entity] = _recorded_suspense((stats or {}).get("suspense", []))
    suspense = {
        (entity, provider, currency): amount
        for entity, totals in last_suspense.items()
        for (provider, currency), amount in totals.items()
    }
    quarantined = {
        (kind, entity or ""): int(count or 0)
        for kind, entity, count in session.execute(
            select(
                col(ImportRow.kind), col(ImportRow.entity), func.sum(col(ImportRow.rows_quarantined))
            ).group_by(col(ImportRow.kind), col(ImportRow.entity))
        )
    }
    return StoreTotals(runs, journals, attempts, facts, quarantined, suspense)


def _recorded_suspense(recorded: object) -> dict[tuple[str, str], Decimal]:
    """A sync's suspense as its run recorded it; a run recorded before suspense was kept per currency held
    one total, shown under no provider or currency."""
    totals = suspense_of_record(recorded)
    return {("", ""): Decimal(str(recorded or 0))} if totals is None else totals
