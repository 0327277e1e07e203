"""The web console's read models: what each page shows, put together from the store in few queries.

Pages read what is already aggregated — the outbox's posting buckets (one amount per account, day and
provider account, however many facts they hold), runs, events, stored reconciliations — and read facts
only a page at a time (a journal line's lineage). That is what keeps every page fast on a year of data at
a million facts a month (`bench/console.py`, docs/performance.md).

`acting_as(app, user)` is the application as one console user works with it: runs and events they start
are recorded with their name as the actor.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain.close import Checklist
from connector.domain.console import (
    AlertSummary,
    AuditEvent,
    ConnectionSummary,
    JournalSummary,
    LineageSlice,
    Page,
    PayloadDetail,
    RunSummary,
)
from connector.domain.errors import InputError
from connector.domain.journals import Journal
from connector.domain.money import ZERO
from connector.domain.periods import Period
from connector.service.close import checklist
from connector.service.finance_reports import run_report
from connector.store.repositories import StoredJournal, UnitOfWork

COGS, SUSPENSE = "AI COGS", "Suspense (unallocated)"
OPEX = ("R&D", "Sales & Marketing", "G&A")
SERIES = (COGS, *OPEX, SUSPENSE)  # the overview chart's series, in the order a P&L reads


class ActingAs:
    """The application, with `actor` set to one person (the console user who asked)."""

    def __init__(self, app: Any, actor: str) -> None:
        self._app = app
        self.actor = actor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


def acting_as(app: Any, actor: str) -> Any:
    return ActingAs(app, actor)


def local_today(app: Any, entity: str) -> date:
    zone = ZoneInfo(app.mapping()[0].entity(entity).timezone)
    return app.clock().astimezone(zone).date()


# ------------------------------------------------------------------------------------------- overview


@dataclass(frozen=True, slots=True)
class SpendMonth:
    month: str
    by_series: dict[str, Decimal]  # SERIES → amount (other spend — capitalized, expired — under "Other")

    @property
    def total(self) -> Decimal:
        return sum(self.by_series.values(), ZERO)


@dataclass
class Overview:
    entity: str
    currency: str
    months: list[SpendMonth]
    last_sync: RunSummary | None
    last_run: RunSummary | None
    connections: list[ConnectionSummary]
    alerts: list[AlertSummary]
    close_period: Period
    blockers: list[Any] = field(default_factory=list)
    held: int = 0

    @property
    def series(self) -> list[str]:
        present = {name for m in self.months for name, amount in m.by_series.items() if amount}
        return [s for s in (*SERIES, "Other") if s in present or s in SERIES]


def overview(app: Any, entity: str, months: int = 12) -> Overview:
    today = local_today(app, entity)
    last = Period.of(today)
    first = last
    for _ in range(months - 1):
        first = first.previous()
    report = run_report(app, "spend", entity=entity, first=first, last=last)
    by_month: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in report.rows:
        month, label, _currency = row.keys
        series = label if label in SERIES else "Other"
        by_month[month][series] += row.figures[0] or ZERO
    spend, period = [], first
    while period <= last:
        amounts = by_month.get(str(period), {})
        spend.append(SpendMonth(str(period), {s: amounts.get(s, ZERO) for s in (*SERIES, "Other")}))
        period = period.next()
    close = last.previous()
    checklist = close_checklist(app, entity, close)
    with UnitOfWork(app.engine) as uow:
        last_sync = uow.console.last_run(entity, "sync")
        runs, _ = uow.console.runs(entity=entity, page=Page(1, 1))
        connections = [c for c in uow.console.connections() if c.entity == entity]
        alerts = uow.console.alerts(entity, since=app.clock() - timedelta(days=45), limit=10)
    return Overview(
        entity=entity,
        currency=app.mapping()[0].entity(entity).currency,
        months=spend,
        last_sync=last_sync,
        last_run=runs[0] if runs else None,
        connections=connections,
        alerts=alerts,
        close_period=close,
        blockers=checklist.blockers,
        held=len(checklist.held),
    )


# ------------------------------------------------------------------------------------------ the close


@dataclass(frozen=True, slots=True)
class ReconciliationLine:
    """One provider account's four-way reconciliation for a period, as last computed."""

    provider: str
    provider_account: str
    currency: str
    provider_cost: Decimal
    invoice_total: Decimal | None
    posted_total: Decimal
    ledger_total: Decimal | None
    variance: Decimal | None
    tolerance: Decimal | None
    status: str
    checks: tuple[dict, ...]  # each check: what, holds, expected, actual, difference, explanation
    explained: tuple[tuple[str, Decimal], ...]  # the variance explained: (tax, credits, late usage …, amount)
    reconciled_at: datetime


def close_checklist(app: Any, entity: str, period: Period) -> Checklist:
    """The close checklist from the store alone: the reconciliation as last run (the ledger is not called:
    `Reconcile now` does that)."""
    result = checklist(app, entity=entity, period=period, recorder=None, reconcile=False)  # type: ignore[arg-type]
    for line in reconciliation(app, entity, period):
        result.reconciliation.append((line.provider, line.provider_account, line.status))
        result.reconciliation_notes[(line.provider, line.provider_account)] = "; ".join(
            c.get("explanation") or f"{c['check']} does not hold (off by {c['difference']})"
            for c in line.checks
            if not c.get("holds")
        )
    return result


def reconciliation(app: Any, entity: str, period: Period) -> list[ReconciliationLine]:
    with UnitOfWork(app.engine) as uow:
        rows = uow.reconciliations.latest(entity, str(period))
    lines = []
    for r in rows:
        checks = tuple(f for f in r.findings if "check" in f)
        explained = tuple((f["explained"], Decimal(f["amount"])) for f in r.findings if "explained" in f)
        lines.append(
            ReconciliationLine(
                r.provider,
                r.provider_account,
                r.currency,
                r.provider_cost,
                r.invoice_total,
                r.posted_total,
                r.ledger_total,
                r.variance,
                r.tolerance,
                r.status,
                checks,
                explained,
                r.created_at,
            )
        )
    return lines


# -------------------------------------------------------------------------------------- runs, journals


def runs_page(
    app: Any, *, entity: str | None, kind: str | None, status: str | None, page: Page
) -> tuple[list[RunSummary], int, list[str]]:
    with UnitOfWork(app.engine) as uow:
        runs, count = uow.console.runs(entity=entity, kind=kind, status=status, page=page)
        return runs, count, uow.console.run_kinds()


@dataclass
class RunDetail:
    run: RunSummary
    events: list[AuditEvent]
    held: list[JournalSummary]  # what it planned that waits for approval
    planned: list[JournalSummary]  # every journal it planned


def run_detail(app: Any, run_id: str) -> RunDetail:
    with UnitOfWork(app.engine) as uow:
        run = uow.console.run(run_id)
        if run is None:
            raise InputError(f"there is no run {run_id}", fix="pick a run from the sync log")
        events = uow.console.events_of_run(run_id)
        planned: list[JournalSummary] = []
        if run.entity:
            journals, _ = uow.console.journals(run.entity, page=Page(1, 500))
            planned = [j for j in journals if j.planned_run_id == run_id]
    return RunDetail(run, events, [j for j in planned if j.status == "held"], planned)


@dataclass(frozen=True, slots=True)
class JournalFilter:
    period: Period | None = None
    kind: str | None = None
    status: str | None = None
    account: str | None = None


def journals_page(
    app: Any, entity: str, chosen: JournalFilter, page: Page
) -> tuple[list[JournalSummary], int, list[str]]:
    with UnitOfWork(app.engine) as uow:
        journals, count = uow.console.journals(
            entity,
            first_day=chosen.period.first_day if chosen.period else None,
            last_day=chosen.period.last_day if chosen.period else None,
            kind=chosen.kind,
            status=chosen.status,
            account=chosen.account,
            page=page,
        )
        return journals, count, uow.console.accounts_used(entity)


@dataclass
class JournalDetail:
    summary: JournalSummary
    journal: Journal
    stored: StoredJournal
    account_names: dict[str, str]  # account → the name the ledger's cached chart gives it


def journal_detail(app: Any, entity: str, key: str) -> JournalDetail:
    with UnitOfWork(app.engine) as uow:
        summary = uow.console.journal(entity, key)
        stored = uow.outbox.by_key(entity, key)
        chart = uow.charts.get(entity)
    if summary is None or stored is None:
        raise InputError(f"there is no journal {key} for {entity}", fix="pick a journal from the list")
    names = {}
    if chart is not None:
        for account in chart.accounts:
            names[account.number or account.name] = account.name
            names[account.id] = account.name
    return JournalDetail(summary, stored.journal, stored, names)


@dataclass
class LineLineage:
    detail: JournalDetail
    line_no: int
    balancing: bool
    buckets: list[tuple[Any, Decimal, LineageSlice]]  # (bucket, this journal's contribution, allocations)


def line_lineage(app: Any, entity: str, key: str, line_no: int, page: Page) -> LineLineage:
    """A journal line's posting buckets and, a page at a time, the allocations in each (rule, mapping
    version, fact) — the way from a number in the ledger to the provider's data."""
    detail = journal_detail(app, entity, key)
    journal = detail.journal
    if not 1 <= line_no <= len(journal.lines):
        raise InputError(f"journal {key} has lines 1 to {len(journal.lines)}", fix="pick one of its lines")
    line = journal.lines[line_no - 1]
    category_targets = {c.bucket.target for c in journal.contributions}
    balancing = line.target not in category_targets
    contributions = [c for c in journal.contributions if balancing or c.bucket.target == line.target]
    with UnitOfWork(app.engine) as uow:
        buckets = [(c.bucket, c.amount, uow.console.lineage(c.bucket, page)) for c in contributions[:20]]
    return LineLineage(detail, line_no, balancing, buckets)


def payload(app: Any, payload_id: int) -> PayloadDetail:
    with UnitOfWork(app.engine) as uow:
        found = uow.console.payload(payload_id)
    if found is None:
        raise InputError(f"there is no raw payload {payload_id}", fix="follow a link from a journal line")
    return found


def audit_events(
    app: Any, *, kind_prefix: str | None, actor: str | None, page: Page
) -> tuple[list[AuditEvent], int]:
    with UnitOfWork(app.engine) as uow:
        return uow.console.events(kind_prefix=kind_prefix, actor=actor, page=page)
