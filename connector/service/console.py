"""The web console's read models: what each page shows, put together from the store in few queries.

Pages read what is already aggregated — the outbox's posting buckets (one amount per account, day and
provider account, however many facts they hold), runs, events, stored reconciliations — and read facts
only a page at a time (a journal line's lineage). That is what keeps every page fast on a year of data at
a million facts a month (`bench/console.py`, docs/performance.md).

`acting_as(app, user)` is the application as one console user works with it: runs and events they start
are recorded with their name as the actor.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from connector.domain.chart import LedgerChart
from connector.domain.close import Checklist, checklist_data, checklist_from_data
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
from connector.domain.credits import CreditLot
from connector.domain.errors import InputError, TokenbooksError
from connector.domain.finance_figures import EXPIRED_CREDITS, PROMOTIONAL_CREDITS
from connector.domain.journals import Journal
from connector.domain.money import ZERO
from connector.domain.periods import Period, months_through
from connector.domain.reconcile import Finding
from connector.service.audit import TracedInvoice, invoices_billing
from connector.service.close import checklist, misconfigured_in
from connector.service.connections import reconnect_reason
from connector.service.console_sources import SourceState, source_states
from connector.service.finance_reports import run_report
from connector.service.policies import policy_history
from connector.service.pull import SourceStatus, entity_sources_status
from connector.store.records import AttemptRecord, ConnectionRecord, StoredJournal

log = logging.getLogger("tokenbooks.console")
T = TypeVar("T")
COGS, SUSPENSE = "AI COGS", "Suspense (unallocated)"
OPEX = ("R&D", "Sales & Marketing", "G&A")
SERIES = (COGS, *OPEX, SUSPENSE)  # the overview chart's series, in the order a P&L reads
# spend outside the P&L categories, each its own series when the month has some (never one unnamed "Other":
# a controller must see that 5.40 is credits that expired); an account the roles do not name is grouped
EXTRA_SERIES = ("Capitalized software", EXPIRED_CREDITS, PROMOTIONAL_CREDITS)
OTHER_ACCOUNTS = "Other accounts"


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
    by_series: dict[str, Decimal]  # SERIES, and EXTRA_SERIES or OTHER_ACCOUNTS where booked → amount
    # what the ledger holds for the month by posting date, and why it is not the spend (key, amount, why)
    ledger: Decimal = ZERO
    differences: tuple[tuple[str, Decimal, str], ...] = ()

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
    close_computed_at: datetime | None = None  # when the close checklist was computed (stored after runs)
    sources: list[SourceState] = field(default_factory=list)  # read now: how fresh the figures are

    @property
    def series(self) -> list[str]:
        present = {name for m in self.months for name, amount in m.by_series.items() if amount}
        # "Other": a month stored before the series were named, until the next run computes it again
        return [*SERIES, *(s for s in (*EXTRA_SERIES, OTHER_ACCOUNTS, "Other") if s in present)]


def _connection(row: ConnectionRecord, now: datetime) -> ConnectionSummary:
    """A connection as the overview shows it: `reconnect_needed` by the same decision as
    `tokenbooks connections` and /healthz (a refresh token that expired unused included), with why."""
    reason = reconnect_reason(row, now)
    if reason is None:
        return ConnectionSummary(row.ledger, row.entity, row.status, row.last_error, row.updated_at)
    return ConnectionSummary(row.ledger, row.entity, "reconnect_needed", reason, row.updated_at)


def overview(app: Any, entity: str, months: int = 12, statuses: list[SourceStatus] | None = None) -> Overview:
    """The console's first page; `statuses` as `close_checklist` takes them."""
    today = local_today(app, entity)
    last = Period.of(today)
    first = last
    for _ in range(months - 1):
        first = first.previous()
    stamp = books_stamp(app, entity)
    spend, _ = stored(
        app,
        entity,
        f"spend:{first}..{last}",
        stamp,
        lambda: spend_by_month(app, entity, first, last),
        encode=lambda months: [
            [
                m.month,
                {s: str(a) for s, a in m.by_series.items()},
                str(m.ledger),
                [[key, str(amount), why] for key, amount, why in m.differences],
            ]
            for m in months
        ],
        decode=lambda data: [
            SpendMonth(
                m,
                {s: Decimal(a) for s, a in by.items()},
                Decimal(ledger),
                tuple((key, Decimal(amount), why) for key, amount, why in differences),
            )
            for m, by, ledger, differences in data
        ],
    )
    close = last.previous()
    # the settings' sections built once for the view: the close's blockers and the Sources section
    if statuses is None:
        statuses = entity_sources_status(app, entity)
    checklist, computed_at = close_checklist(app, entity, close, stamp, statuses)
    with app.store.unit_of_work() as uow:
        last_sync = uow.console.last_run(entity, "sync")
        runs, _ = uow.console.runs(entity=entity, page=Page(1, 1))
        connections = [_connection(row, app.clock()) for row in uow.connections.for_entity(entity)]
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
        close_computed_at=computed_at,
        sources=source_states(app, entity, statuses),
    )


def spend_by_month(app: Any, entity: str, first: Period, last: Period) -> list[SpendMonth]:
    """AI spend booked per month from `first` to `last`, by the chart's series, and what the ledger holds
    each month by posting date with each difference explained (the spend report's figures)."""
    report = run_report(app, "spend", entity=entity, first=first, last=last)
    by_month: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in report.rows:
        month, label, _currency = row.keys
        series = label if label in SERIES or label in EXTRA_SERIES else OTHER_ACCOUNTS
        by_month[month][series] += row.figures[0] or ZERO
    ledger: dict[str, Decimal] = defaultdict(lambda: ZERO)
    differences: dict[str, list[tuple[str, Decimal, str]]] = defaultdict(list)
    books_currency = app.mapping()[0].entity(entity).currency
    for tie in report.ledger_ties:
        ledger[tie.month] += tie.ledger
        other = "" if tie.currency == books_currency else f" ({tie.currency})"  # the page's amounts are in it
        differences[tie.month] += [(d.key, d.amount, d.why + other) for d in tie.differences]
    every = (*SERIES, *EXTRA_SERIES, OTHER_ACCOUNTS)
    return [
        SpendMonth(
            str(period),
            {s: by_month.get(str(period), {}).get(s, ZERO) for s in every},
            ledger.get(str(period), ZERO),
            tuple(differences.get(str(period), ())),
        )
        for period in months_through(first, last)
    ]


# ------------------------------------------------------------------------------- stored summaries


# the stored summaries' format: moved on when what a summary holds changes meaning (2: a close checklist's
# booked_later amounts are signed, debit or credit to the expense; earlier ones were unsigned; 3: a spend
# month holds what the ledger holds for it and the differences explained)
SUMMARY_FORMAT = "summaries-3"


def stored(
    app: Any,
    entity: str,
    name: str,
    stamp: str,
    compute: Callable[[], T],
    *,
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
) -> tuple[T, datetime]:
    """A page's summary and when it was computed: as stored after the last change to the books
    (`store/console_summaries.py`), or computed now and stored when the books changed since (`stamp`)."""
    with app.store.unit_of_work() as uow:
        found = uow.console_summaries.get(entity, name, stamp)
    if found is not None:
        data, computed_at = found
        return decode(data), computed_at
    value, now = compute(), app.clock()
    with app.store.unit_of_work() as uow:
        uow.console_summaries.save(entity, name, encode(value), stamp, now)
        uow.commit()
    return value, now


def books_stamp(app: Any, entity: str) -> str:
    """What the entity's books look like now, for the stored summaries' staleness check."""
    # SUMMARY_FORMAT first: a summary stored in an earlier format is stale too, whatever the books
    versions = [SUMMARY_FORMAT, app.mapping()[0].content_hash, app.policies()[0].content_hash]
    with app.store.unit_of_work() as uow:
        versions += [m.content_hash for m in uow.mappings.all()] + [
            p.content_hash for p in uow.policies.all()
        ]
        summaries = [
            uow.outbox.summary(entity),
            uow.invoices.summary(entity),
            uow.credit_lots.summary(entity),
            uow.customer_credits.summary(entity),
        ]
        return uow.console_summaries.stamp(entity, versions=versions, summaries=summaries)


def refresh_summaries(app: Any, entity: str) -> None:
    """After a run or a change made in the console: what the pages open first (the overview, last month's
    and this month's close), computed now so the next page view reads it. A failure is not the run's:
    it is logged, and the page computes what it finds missing."""
    try:
        statuses = entity_sources_status(app, entity)  # the settings' sections built once for both
        overview(app, entity, statuses=statuses)
        close_checklist(app, entity, Period.of(local_today(app, entity)), statuses=statuses)
    except TokenbooksError as exc:
        log.warning("console summaries of %s not stored: %s", entity, exc)


# ------------------------------------------------------------------------------------------ the close


@dataclass(frozen=True, slots=True)
class ReconciliationLine:
    """One provider account's four-way reconciliation for a period, as last computed."""

    provider: str
    provider_account: str
    currency: str
    provider_cost: Decimal
    invoice_total: Decimal | None
    posted_total: Decimal  # in `currency` (the provider's), as computed
    ledger_total: Decimal | None  # in `books_currency`
    variance: Decimal | None
    tolerance: Decimal | None
    status: str
    checks: tuple[Finding, ...]
    explained: tuple[tuple[str, Decimal], ...]  # the variance explained: (tax, credits, late usage …, amount)
    reconciled_at: datetime
    books_currency: str  # the books' (the ledger's): `currency` unless converted from it
    posted_in_books: Decimal  # what tokenbooks posted, in the books' currency

    @property
    def converted(self) -> bool:
        return self.books_currency != self.currency


def close_checklist(
    app: Any,
    entity: str,
    period: Period,
    stamp: str | None = None,
    statuses: list[SourceStatus] | None = None,
) -> tuple[Checklist, datetime]:
    """The period's close checklist and when it was computed (stored after the last change to the books);
    the sources whose settings are refused are read now, as the Sources section reads them: the settings
    are not part of the books' stamp, and a source fixed since blocks no more. `statuses`: the entity's
    sources as this request already read them (`entity_sources_status`: built once a request, never kept
    longer — the settings may change)."""
    if statuses is None:
        statuses = entity_sources_status(app, entity)
    found, computed_at = stored(
        app,
        entity,
        f"close:{period}",
        stamp or books_stamp(app, entity),
        lambda: _computed_checklist(app, entity, period, statuses),
        encode=checklist_data,
        decode=checklist_from_data,
    )
    found.misconfigured = misconfigured_in(statuses)
    return found, computed_at


def _computed_checklist(app: Any, entity: str, period: Period, statuses: list[SourceStatus]) -> Checklist:
    """The close checklist from the store alone: the reconciliation as last run (the ledger is not called:
    `Reconcile now` does that)."""
    result = checklist(
        app,
        entity=entity,
        period=period,
        recorder=None,  # type: ignore[arg-type]
        reconcile=False,
        statuses=statuses,
    )
    for line in reconciliation(app, entity, period):
        result.reconciliation.append((line.provider, line.provider_account, line.status))
        result.reconciliation_notes[(line.provider, line.provider_account)] = "; ".join(
            c.note for c in line.checks if not c.holds
        )
    return result


def voided_lots(app: Any, entity: str, period: Period) -> list[CreditLot]:
    """The lots bought by the period's end that were voided (recorded in error): the close's lot table
    leaves them out, as the books do, so the page lists them beside it with who voided each and why."""
    with app.store.unit_of_work() as uow:
        lots = uow.credit_lots.for_entity(entity, voided=True)
    return [lot for lot in lots if lot.void is not None and lot.purchase_date <= period.last_day]


def reconciliation(app: Any, entity: str, period: Period) -> list[ReconciliationLine]:
    with app.store.unit_of_work() as uow:
        rows = uow.reconciliations.latest(entity, str(period))
    lines = []
    for r in rows:
        checks = tuple(Finding.from_dict(f, r.currency) for f in r.findings if "check" in f)
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
                r.books_currency or r.currency,
                r.posted_total if r.posted_in_books is None else r.posted_in_books,
            )
        )
    return lines


# -------------------------------------------------------------------------------------- runs, journals


def runs_page(
    app: Any, *, entity: str | None, kind: str | None, status: str | None, page: Page
) -> tuple[list[RunSummary], int, list[str]]:
    with app.store.unit_of_work() as uow:
        runs, count = uow.console.runs(entity=entity, kind=kind, status=status, page=page)
        return runs, count, uow.console.run_kinds()


@dataclass
class RunDetail:
    run: RunSummary
    events: list[AuditEvent]
    held: list[JournalSummary]  # what it planned that waits for approval
    planned: list[JournalSummary]  # every journal it planned


def run_detail(app: Any, run_id: str) -> RunDetail:
    with app.store.unit_of_work() as uow:
        run = uow.console.run(run_id)
        if run is None:
            raise InputError(f"there is no run {run_id}", fix="pick a run from the sync log")
        events = uow.console.events_of_run(run_id)
        planned: list[JournalSummary] = []
        if run.entity:  # asked of the store: a run of last year planned none of the newest journals
            planned, _ = uow.console.journals(run.entity, planned_run_id=run_id, page=Page(1, 500))
    return RunDetail(run, events, [j for j in planned if j.status == "held"], planned)


@dataclass(frozen=True, slots=True)
class JournalFilter:
    period: Period | None = None
    kind: str | None = None
    status: str | None = None
    account: str | None = None
    ledger_id: str | None = None  # the id the ledger gave the journal (an auditor starts from the ledger)


def journals_page(
    app: Any, entity: str, chosen: JournalFilter, page: Page
) -> tuple[list[JournalSummary], int, list[str]]:
    with app.store.unit_of_work() as uow:
        journals, count = uow.console.journals(
            entity,
            first_day=chosen.period.first_day if chosen.period else None,
            last_day=chosen.period.last_day if chosen.period else None,
            kind=chosen.kind,
            status=chosen.status,
            account=chosen.account,
            ledger_id=chosen.ledger_id,
            page=page,
        )
        return journals, count, uow.console.accounts_used(entity)


@dataclass
class JournalDetail:
    summary: JournalSummary
    journal: Journal
    stored: StoredJournal
    chart: LedgerChart | None  # the ledger's chart as last read (account names), None: never read
    attempts: list[AttemptRecord]  # every try at posting it, oldest first: which run, what came of it


def ledger_chart(app: Any, entity: str) -> LedgerChart | None:
    """The entity's ledger chart as last read (by `mappings check`, a sync's check, the console's check),
    for account names; None when it was never read, or was read from a ledger the entity no longer uses."""
    with app.store.unit_of_work() as uow:
        chart = uow.charts.get(entity)
    ledger = app.mapping()[0].entity(entity).ledger
    return chart if chart is not None and chart.ledger == ledger else None


def journal_detail(app: Any, entity: str, key: str) -> JournalDetail:
    with app.store.unit_of_work() as uow:
        summary = uow.console.journal(entity, key)
        stored = uow.outbox.by_key(entity, key)
        attempts = uow.outbox.attempts([stored.id]) if stored is not None else []
    if summary is None or stored is None:
        raise InputError(f"there is no journal {key} for {entity}", fix="pick a journal from the list")
    return JournalDetail(summary, stored.journal, stored, ledger_chart(app, entity), attempts)


@dataclass
class LineLineage:
    detail: JournalDetail
    line_no: int
    balancing: bool
    # (bucket, this journal's contribution, allocations, the usage days the bucket sums)
    buckets: list[tuple[Any, Decimal, LineageSlice, list[date]]]
    invoices: tuple[TracedInvoice, ...] = ()  # the provider's invoices billing those buckets' months


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
    policies = policy_history(app)  # which days each bucket sums: a monthly accrual sums its month
    with app.store.unit_of_work() as uow:
        buckets = []
        for c in contributions[:20]:
            days = policies.bucket_days(c.bucket)
            buckets.append((c.bucket, c.amount, uow.console.lineage(c.bucket, page, days), days))
        invoices = invoices_billing(uow, entity, [c.bucket for c in contributions])
    return LineLineage(detail, line_no, balancing, buckets, invoices)


def payload(app: Any, payload_id: int) -> PayloadDetail:
    with app.store.unit_of_work() as uow:
        found = uow.console.payload(payload_id)
    if found is None:
        raise InputError(f"there is no raw payload {payload_id}", fix="follow a link from a journal line")
    return found


def audit_events(
    app: Any, *, kind_prefix: str | None, actor: str | None, page: Page
) -> tuple[list[AuditEvent], int]:
    with app.store.unit_of_work() as uow:
        return uow.console.events(kind_prefix=kind_prefix, actor=actor, page=page)
