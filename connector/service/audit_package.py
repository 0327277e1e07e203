"""Exports for auditors: everything about one entity's month that an auditor asks for, as CSV files, one JSON
document, an xlsx workbook (one sheet per table) or an HTML report (`service/period_report.py`).

The package: the runs that worked on the period (with their actor, inputs and outcome), the journals with
their lines (accounts by number and name, class, department, tracking), the trial balance of the
posted journals (per account: debits, credits, balance; to tie to the ledger's), the posting attempts with ledger
ids, approvals (who released which journal, when, and why it had been held), the reconciliation, the
events of those runs, the mapping and policy versions with their change notes and who saved each in the
console, when (their `*.saved` events among the events), the exceptions (spend in
suspense, quarantined input rows, alerts), and the lineage — each ledger line's allocations with the rule
and mapping version that placed them, the fact behind each and the hash of the raw payload it was read
from.

Tables keep their values typed (Decimal, date, datetime, dict); each writer shows them for its medium:
CSV and xlsx flatten nested values into "key: value" text (no JSON blobs), JSON keeps them nested, the
workbook formats amounts with thousands separators and two decimals, ratios as percentages and times as
UTC. Secrets never appear: every value passes through `connector.redaction.redact_data`, as logs and the
store do (each secret the process knows and its URL path, keys a provider quoted back masked: "[redacted]").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from connector.domain.chart import LedgerChart
from connector.domain.console import FileVersion
from connector.domain.desired import COST_KINDS
from connector.domain.journals import LedgerTarget
from connector.domain.money import ZERO
from connector.domain.periods import Period
from connector.redaction import redact_data, remember
from connector.store.port import Store, UnitOfWork
from connector.store.records import JournalRecord, Lineage, RunRecord, StoredJournal, VersionRecord

PERCENT_COLUMNS = frozenset({"coverage"})  # ratios, shown as percentages
UNIT_COST_COLUMNS: frozenset[str] = frozenset()  # none yet: every other amount is money (2 decimals)
RUN_COLUMNS = [
    "id",
    "kind",
    "entity",
    "actor",
    "started_at",
    "finished_at",
    "status",
    "reason",
    "code_version",
]
# a mapping or policies version: its reach and note, who saved it in the console, when a run first used it
VERSION_COLUMNS = ["version", "effective_from", "change_note", "saved_by", "saved_at", "first_seen_at"]
IMPORT_WINDOW_AFTER = (
    45  # days after the period whose imports (invoices, late files) belong to its exceptions
)


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    title: str = ""

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class PeriodExport:
    entity: str
    period: Period
    tables: dict[str, Table]
    daily_spend: dict[date, dict[str, Decimal]]  # day → category → amount (current allocations)
    currency: str = "USD"


def period_export(
    store: Store, *, entity: str, period: Period, secrets: Iterable[str] = (), currency: str = "USD"
) -> PeriodExport:
    """Everything an auditor needs about one entity's month, secrets removed."""
    with store.unit_of_work() as uow:
        journals = uow.outbox.records_for_period(entity, period.first_day, period.last_day)
        stored = {j.id: uow.outbox.by_key(entity, j.key) for j in journals}
        attempts = uow.outbox.attempts([j.id for j in journals])
        reconciliations = uow.reconciliations.latest(entity, str(period))
        run_ids = {j.planned_run_id for j in journals} | {a.run_id for a in attempts}
        run_ids |= {r.run_id for r in reconciliations}
        runs = _runs(uow, entity, period, run_ids - {None})
        keys = {j.key for j in journals}
        approvals = [e for e in uow.events.of_kind("journal.approved") if e.data.get("key") in keys]
        events = uow.events.for_runs([r.id for r in runs]) + approvals
        chart = uow.charts.get(entity)
        lineage = uow.allocations.lineage(entity, period.first_day, period.last_day)
        start = datetime.combine(period.first_day, time(0), tzinfo=UTC)
        quarantined = uow.imports.quarantined_between(
            entity, start, start + timedelta(days=period.last_day.day + IMPORT_WINDOW_AFTER)
        )
        alerts = uow.alerts.for_period(entity, str(period))
        mapping_versions = _versions(uow.mappings.all(), uow.console.file_versions("mapping"))
        policy_versions = _versions(uow.policies.all(), uow.console.file_versions("policies"))
        saves = uow.events.of_kind("mapping.saved") + uow.events.of_kind("policies.saved")
    accounts = _Accounts(chart)
    approved = {e.data["key"]: e for e in approvals}
    events = sorted(events + saves, key=lambda e: e.id)  # a controller's save is no run's: its own event
    tables = [
        _table(
            "runs",
            runs,
            [*RUN_COLUMNS, "params", "stats"],
        ),
        Table(
            "journals",
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
                "approved_at",
            ],
            [
                [
                    *(
                        getattr(j, c)
                        for c in ("key", "kind", "txn_date", "original_date", "currency", "status")
                    ),
                    *(getattr(j, c) for c in ("ledger", "ledger_id", "generation", "attempts", "memo")),
                    j.planned_run_id,
                    j.posted_at,
                    j.approved_by,
                    approved[j.key].at if j.key in approved else None,
                ]
                for j in journals
            ],
        ),
        _journal_lines(journals, stored, accounts),
        _trial_balance(journals, stored, accounts),
        Table(
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
                    {j.id: j.key for j in journals}[a.journal_id],
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
        Table(
            "approvals",
            ["key", "approved_by", "approved_at", "held_because", "released_with_run", "event_hash"],
            [
                [e.data["key"], e.actor, e.at, e.data.get("held_because"), e.data.get("run"), e.hash]
                for e in approvals
            ],
        ),
        _table(
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
                "books_currency",
                "posted_in_books",
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
        _table("events", events, ["id", "at", "run_id", "actor", "kind", "level", "message", "data", "hash"]),
        _table("mapping_versions", mapping_versions, [*VERSION_COLUMNS, "run_id", "source", "content_hash"]),
        _table(
            "policy_versions", policy_versions, [*VERSION_COLUMNS, "applied_at", "source", "content_hash"]
        ),
        _exceptions(lineage, quarantined, alerts, accounts),
        _lineage(lineage, stored.values(), accounts),
    ]
    remember(secrets)  # known to the process's redaction from now on, as the settings' secrets already are
    for table in tables:
        table.rows = [[redact_data(value) for value in row] for row in table.rows]
    return PeriodExport(entity, period, {t.name: t for t in tables}, _daily_spend(lineage), currency)


class _Accounts:
    """Ledger accounts by number and name, from the chart last fetched for the entity."""

    def __init__(self, chart: LedgerChart | None) -> None:
        self.chart = chart

    def columns(self, target: LedgerTarget) -> list[Any]:
        """account (number or reference), account name, class, department, tracking — flat."""
        found = self.chart.account(target.account) if self.chart else None
        number = (found.number or found.id) if found else target.account
        tracking = "; ".join(f"{category}: {option}" for category, option in target.tracking)
        return [number, found.name if found else "", target.class_name, target.department, tracking or None]


ACCOUNT_COLUMNS = ["account", "account_name", "class", "department", "tracking"]


def _journal_lines(
    journals: list[JournalRecord], stored: dict[int, StoredJournal | None], accounts: _Accounts
) -> Table:
    rows = []
    for j in journals:
        journal = stored[j.id]
        for number, line in enumerate(journal.journal.lines if journal else (), start=1):
            debit = line.amount if line.amount > 0 else None
            credit = -line.amount if line.amount < 0 else None
            rows.append([j.key, number, *accounts.columns(line.target), debit, credit, line.description])
    return Table(
        "journal_lines", ["key", "line_no", *ACCOUNT_COLUMNS, "debit", "credit", "description"], rows
    )


def _trial_balance(
    journals: list[JournalRecord], stored: dict[int, StoredJournal | None], accounts: _Accounts
) -> Table:
    """What the period's posted journals put on each account — the figures to tie to the ledger's trial
    balance of the month (activity on each account under tokenbooks' journals) — and a total row whose
    debits equal its credits. Journals not posted (held, planned, failed, rejected) are not in the ledger:
    they are left out here, and listed with their status among the journals."""
    sums: dict[tuple[str, str, str], list[Any]] = {}
    for j in journals:
        journal = stored[j.id]
        if j.status != "posted" or journal is None:
            continue
        for line in journal.journal.lines:
            number, name, *_ = accounts.columns(line.target)
            row = sums.setdefault((str(number), name, j.currency), [ZERO, ZERO, set()])
            row[0 if line.amount > 0 else 1] += abs(line.amount)
            row[2].add(j.key)
    rows: list[list[Any]] = []
    for currency in sorted({currency for _, _, currency in sums}):
        mine = {k: v for k, v in sorted(sums.items()) if k[2] == currency}
        for (number, name, _), (debit, credit, keys) in mine.items():
            rows.append([number, name, currency, debit or None, credit or None, debit - credit, len(keys)])
        debit, credit = sum((v[0] for v in mine.values()), ZERO), sum((v[1] for v in mine.values()), ZERO)
        keys = set().union(*(v[2] for v in mine.values()))
        rows.append(["total", "", currency, debit, credit, debit - credit, len(keys)])
    return Table(
        "trial_balance",
        ["account", "account_name", "currency", "debit", "credit", "balance", "journals"],
        rows,
        title="Trial balance of the period's posted journals",
    )


def _lineage(rows: list[Lineage], journals: Iterable[StoredJournal | None], accounts: _Accounts) -> Table:
    """Ledger line → allocation (rule, mapping version) → fact (version) → raw payload hash.

    An allocation feeds the bucket of its day (or of its month's last day, for accounts booked monthly);
    the journals holding that bucket are its ledger lines. Spend a policy moved to another account
    (fine-tuning or a project in service) is found by its day and provider account instead."""
    by_target: dict[tuple, set[str]] = defaultdict(set)
    by_account: dict[tuple, set[str]] = defaultdict(set)
    for stored in journals:
        if stored is None:
            continue
        for c in stored.journal.contributions:
            if c.bucket.kind in COST_KINDS:
                b = c.bucket
                by_target[(b.period, b.provider, b.provider_account, b.target.key())].add(stored.journal.key)
                by_account[(b.period, b.provider, b.provider_account)].add(stored.journal.key)
    out = []
    for r in rows:
        days = (r.posting_date, Period.of(r.posting_date).last_day)
        keys = set().union(
            *(by_target.get((d, r.provider, r.provider_account, r.target_key), ()) for d in days)
        )
        if not keys:
            keys = set().union(*(by_account.get((d, r.provider, r.provider_account), ()) for d in days))
        out.append(
            [
                ", ".join(sorted(keys)) or None,
                *accounts.columns(LedgerTarget.from_key(r.target_key)),
                r.posting_date,
                r.provider,
                r.provider_account,
                r.category,
                r.rule_id,
                r.mapping_version,
                r.amount,
                r.currency,
                r.fact_id,
                r.natural_key,
                r.fact_version,
                r.fact_amount,
                r.source,
                r.payload_sha256,
            ]
        )
    return Table(
        "lineage",
        [
            "journals",
            *ACCOUNT_COLUMNS,
            "posting_date",
            "provider",
            "provider_account",
            "category",
            "rule_id",
            "mapping_version",
            "allocated",
            "currency",
            "fact_id",
            "fact_natural_key",
            "fact_version",
            "fact_amount",
            "fact_source",
            "raw_payload_sha256",
        ],
        out,
    )


def _exceptions(lineage: list[Lineage], quarantined, alerts, accounts: _Accounts) -> Table:
    """What did not go as planned: spend in suspense, input rows refused, alerts raised."""
    rows: list[list[Any]] = []
    suspense: dict[tuple, Decimal] = defaultdict(Decimal)
    for r in lineage:
        if r.category == "suspense":
            suspense[(r.posting_date, r.provider, r.provider_account, r.currency, r.target_key)] += r.amount
    for (day, provider, account, currency, target), amount in sorted(suspense.items()):
        where = accounts.columns(LedgerTarget.from_key(target))
        rows.append(
            [
                "suspense",
                day,
                f"{provider} {account}",
                amount,
                currency,
                f"no mapping rule placed it: on {where[0]} {where[1]}".strip(),
                "add a mapping rule (`tokenbooks mappings coverage` lists the spend)",
            ]
        )
    for imported, row in quarantined:
        rows.append(
            [
                "quarantine",
                imported.imported_at,
                f"{row.file} {row.location} {row.column}".strip(),
                row.amount,
                row.currency,
                row.reason,
                row.fix,
            ]
        )
    for alert in alerts:
        rows.append(["alert", alert.raised_at, alert.subject, None, None, alert.message, alert.action])
    return Table("exceptions", ["kind", "when", "where", "amount", "currency", "what", "fix"], rows)


def _runs(uow: UnitOfWork, entity: str, period: Period, run_ids: set) -> list[RunRecord]:
    """Runs that worked on the period: they planned, posted or reconciled it, or were asked to."""
    return [r for r in uow.runs.of_entity(entity) if r.id in run_ids or _names_period(r.params or {}, period)]


def _names_period(params: dict, period: Period) -> bool:
    if params.get("period") == str(period):
        return True
    days = [params.get("since"), params.get("until")]
    return any(d and period.contains(date.fromisoformat(d)) for d in days)


def _daily_spend(lineage: list[Lineage]) -> dict[date, dict[str, Decimal]]:
    spend: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in lineage:
        spend[r.posting_date][r.category] += r.amount
    return {day: dict(by_category) for day, by_category in sorted(spend.items())}


@dataclass(frozen=True, slots=True)
class _Version:
    """A mapping or policies version as the auditor reads it: who saved it in the console and when (none:
    it came from the file, first used by a run), and when a run first used it (none: not used yet)."""

    version: int
    effective_from: date
    change_note: str
    saved_by: str | None
    saved_at: datetime | None
    first_seen_at: datetime | None
    run_id: str | None
    applied_at: datetime | None
    source: str
    content_hash: str


def _versions(stored: Iterable[VersionRecord], known: Iterable[FileVersion]) -> list[_Version]:
    """Every version runs used, with who saved it, and those saved in the console and not used yet."""
    saved = {v.content_hash: v for v in known if v.author}
    found = [
        _Version(
            r.version,
            r.effective_from,
            r.change_note,
            saved[r.content_hash].author if r.content_hash in saved else None,
            saved[r.content_hash].first_seen_at if r.content_hash in saved else None,
            r.first_seen_at,
            r.run_id,
            r.applied_at,
            r.source,
            r.content_hash,
        )
        for r in stored
    ]
    used = {r.content_hash for r in found}
    found += [
        _Version(
            v.version,
            v.effective_from,
            v.change_note,
            v.author,
            v.first_seen_at,
            None,
            None,
            None,
            "saved in the console; no run has used it yet",
            v.content_hash,
        )
        for v in saved.values()
        if v.content_hash not in used
    ]
    return sorted(found, key=lambda v: (v.version, str(v.saved_at or v.first_seen_at or "")))


def _table(name: str, rows: Iterable[Any], columns: list[str]) -> Table:
    return Table(name, columns, [[getattr(row, c) for c in columns] for row in rows])


# ------------------------------------------------------------------------------------------ cell values


def flat(value: Any) -> Any:
    """A nested value (a run's stats, an event's data, findings) as text a person reads in one cell:
    `key: value; key: value`, nested keys joined with dots, lists one item after another."""
    if isinstance(value, dict):
        return "; ".join(_pairs(value, "")) or None
    if isinstance(value, list | tuple):
        return "; ".join(str(flat(v)) for v in value) or None
    return value


def _pairs(value: dict, prefix: str) -> Iterable[str]:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            yield from _pairs(item, f"{name}.")
        elif isinstance(item, list | tuple):
            yield f"{name}: [{', '.join(str(flat(v)) for v in item)}]"
        else:
            yield f"{name}: {cell_text(item)}"


# A spreadsheet reads a cell starting with one of these as a formula (OWASP's "CSV injection"): names
# people and providers typed (`--by`, change notes, provider accounts, file names) must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> str:
    """`cell_text` for a CSV cell: text that a spreadsheet would run as a formula gets a leading `'`, which
    spreadsheets read as "this is text" (numbers, negative amounts included, are left as they are)."""
    text = cell_text(value)
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


def cell_text(value: Any) -> str:
    """A value as an auditor reads it: exact decimals, ISO dates and UTC times, empty for none."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return as_utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return str(flat(value) or "")
    return str(value)


def as_utc_text(moment: datetime) -> str:
    """2026-11-03 14:00:05 UTC (to the second: an auditor compares times, not microseconds)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC"


# ---------------------------------------------------------------------------------------------- writers
