"""Exports for auditors: a period's runs, journals with lines, postings with ledger ids and attempts,
reconciliation and the events of those runs — as CSV files, one JSON document, or an xlsx workbook (one
sheet per table). The HTML report (`service/report.py`) reads the same tables.

Secrets never appear: every value tokenbooks holds as a secret (API keys, client secrets, webhook URL,
SMTP password, encryption key) is replaced by "[redacted]" wherever it might occur in a cell.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from connector.domain.periods import Period
from connector.store.repositories import UnitOfWork
from connector.store.tables import AllocationRow, EventRow, JournalRow, PostingAttemptRow, RunRow

REDACTED = "[redacted]"
FORMATS = ("csv", "json", "xlsx", "html")


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class PeriodExport:
    entity: str
    period: Period
    tables: dict[str, Table]
    daily_spend: dict[date, dict[str, Decimal]]  # day → category → amount (current allocations)


def period_export(
    engine: Engine, *, entity: str, period: Period, secrets: Iterable[str] = ()
) -> PeriodExport:
    """Everything an auditor needs about one entity's month, secrets removed."""
    with UnitOfWork(engine) as uow:
        journals = _journals(uow, entity, period)
        ids = [j.id for j in journals]
        attempts = _attempts(uow, ids)
        reconciliations = uow.reconciliations.latest(entity, str(period))
        run_ids = {j.planned_run_id for j in journals} | {a.run_id for a in attempts}
        run_ids |= {r.run_id for r in reconciliations}
        runs = _runs(uow, entity, period, run_ids - {None})
        events = _events(uow, [r.id for r in runs])
        lines = {j.id: uow.outbox.by_key(entity, j.key).journal.lines for j in journals}  # type: ignore[union-attr]
        keys = {j.id: j.key for j in journals}
        spend = _daily_spend(uow, entity, period)
    tables = {
        "runs": _table(
            "runs",
            runs,
            [
                "id",
                "kind",
                "entity",
                "actor",
                "started_at",
                "finished_at",
                "status",
                "reason",
                "code_version",
                "params",
                "stats",
            ],
        ),
        "journals": _table(
            "journals",
            journals,
            [
                "key",
                "kind",
                "txn_date",
                "original_date",
                "currency",
                "status",
                "ledger",
                "ledger_id",
                "generation",
                "attempts",
                "memo",
                "planned_run_id",
                "posted_at",
                "approved_by",
            ],
        ),
        "journal_lines": Table(
            "journal_lines",
            ["key", "line_no", "account", "debit", "credit", "description"],
            [
                [
                    j.key,
                    n,
                    ln.target.key(),
                    ln.amount if ln.amount > 0 else None,
                    -ln.amount if ln.amount < 0 else None,
                    ln.description,
                ]
                for j in journals
                for n, ln in enumerate(lines[j.id], start=1)
            ],
        ),
        "postings": Table(
            "postings",
            [
                "key",
                "attempt_no",
                "run_id",
                "started_at",
                "finished_at",
                "outcome",
                "ledger_id",
                "request_id",
                "error_class",
                "error_message",
            ],
            [
                [
                    keys[a.journal_id],
                    a.attempt_no,
                    a.run_id,
                    a.started_at,
                    a.finished_at,
                    a.outcome,
                    a.ledger_id,
                    a.request_id,
                    a.error_class,
                    a.error_message,
                ]
                for a in attempts
            ],
        ),
        "reconciliation": _table(
            "reconciliation",
            reconciliations,
            [
                "provider",
                "provider_account",
                "period",
                "currency",
                "provider_cost",
                "invoice_total",
                "posted_total",
                "ledger_total",
                "variance",
                "coverage",
                "tolerance",
                "status",
                "findings",
                "created_at",
                "run_id",
            ],
        ),
        "events": _table(
            "events",
            events,
            ["id", "at", "run_id", "actor", "kind", "level", "message", "data", "prev_hash", "hash"],
        ),
    }
    scrub = [s for s in secrets if s]
    for table in tables.values():
        table.rows = [[_clean(value, scrub) for value in row] for row in table.rows]
    return PeriodExport(entity, period, tables, spend)


def _journals(uow: UnitOfWork, entity: str, period: Period) -> list[JournalRow]:
    """Journals dated in the period, and journals that post amounts for it (e.g. moved out of a lock)."""
    ids = {s.id for s in uow.outbox.for_bucket_periods(entity, period.first_day, period.last_day)}
    ids |= {s.id for s in uow.outbox.list(entity, first_day=period.first_day, last_day=period.last_day)}
    if not ids:
        return []
    query = select(JournalRow).where(JournalRow.id.in_(ids)).order_by(JournalRow.txn_date, JournalRow.id)
    return list(uow.session.exec(query).scalars())


def _attempts(uow: UnitOfWork, journal_ids: list[int]) -> list[PostingAttemptRow]:
    if not journal_ids:
        return []
    query = select(PostingAttemptRow).where(PostingAttemptRow.journal_id.in_(journal_ids))
    return list(uow.session.exec(query.order_by(PostingAttemptRow.id)).scalars())


def _runs(uow: UnitOfWork, entity: str, period: Period, run_ids: set) -> list[RunRow]:
    """Runs that worked on the period: they planned, posted or reconciled it, or were asked to."""
    rows = uow.session.exec(
        select(RunRow).where(RunRow.entity == entity).order_by(RunRow.started_at)
    ).scalars()
    return [r for r in rows if r.id in run_ids or _names_period(r.params or {}, period)]


def _names_period(params: dict, period: Period) -> bool:
    if params.get("period") == str(period):
        return True
    days = [params.get("since"), params.get("until")]
    return any(d and period.contains(date.fromisoformat(d)) for d in days)


def _events(uow: UnitOfWork, run_ids: list[str]) -> list[EventRow]:
    if not run_ids:
        return []
    query = select(EventRow).where(EventRow.run_id.in_(run_ids)).order_by(EventRow.id)
    return list(uow.session.exec(query).scalars())


def _daily_spend(uow: UnitOfWork, entity: str, period: Period) -> dict[date, dict[str, Decimal]]:
    spend: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    rows = uow.session.execute(
        select(AllocationRow.posting_date, AllocationRow.category, AllocationRow.amount).where(
            AllocationRow.entity == entity,
            AllocationRow.posting_date >= period.first_day,
            AllocationRow.posting_date <= period.last_day,
        )
    )
    for day, category, amount in rows:
        spend[day][category] += amount
    return {day: dict(by_category) for day, by_category in sorted(spend.items())}


def _table(name: str, rows: Iterable[Any], columns: list[str]) -> Table:
    return Table(name, columns, [[getattr(row, c) for c in columns] for row in rows])


def _clean(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str, sort_keys=True)
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


# ---------------------------------------------------------------------------------------------- writers


def write_export(export: PeriodExport, fmt: str, out: Path) -> list[Path]:
    """Write the export in `fmt` into the folder `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"tokenbooks-audit-{export.entity}-{export.period}"
    if fmt == "csv":
        return [_write_csv(table, out / f"{stem}-{table.name}.csv") for table in export.tables.values()]
    if fmt == "json":
        return [_write_json(export, out / f"{stem}.json")]
    if fmt == "xlsx":
        return [_write_xlsx(export, out / f"{stem}.xlsx")]
    if fmt == "html":
        from connector.service.report import html_report

        path = out / f"{stem}.html"
        path.write_text(html_report(export), encoding="utf-8")
        return [path]
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def cell_text(value: Any) -> str:
    """A value as an auditor reads it: exact decimals, ISO dates and UTC times, empty for none."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return str(value)


def _write_csv(table: Table, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows([cell_text(v) for v in row] for row in table.rows)
    return path


def _write_json(export: PeriodExport, path: Path) -> Path:
    document = {
        "entity": export.entity,
        "period": str(export.period),
        **{
            name: [{k: _json_value(v) for k, v in r.items()} for r in t.records()]
            for name, t in export.tables.items()
        },
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def _json_value(value: Any) -> Any:
    return value if isinstance(value, int | bool) or value is None else cell_text(value)


def _write_xlsx(export: PeriodExport, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for table in export.tables.values():
        sheet = book.create_sheet(table.name[:31])
        sheet.append(table.columns)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([_xlsx_value(v) for v in row])
        sheet.freeze_panes = "A2"
    book.save(path)
    return path


def _xlsx_value(value: Any) -> Any:
    """Amounts stay numbers (exact decimals become the same digits); times lose their zone (UTC, stated)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value
