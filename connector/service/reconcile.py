"""Reconcile a period: provider cost ↔ invoice ↔ what tokenbooks posted ↔ what the ledger holds.

Figures are gathered here (store and ledger read-back) and judged by the pure `domain.reconcile`.
A journal posted by tokenbooks that is missing from the ledger is drift: it is reported with its key and
queued to be posted again (same key, new idempotency key) by the next sync. A journal changed by hand is
reported and left alone: a person decided that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Protocol

from sqlalchemy.engine import Engine

from connector.domain.accounting_policy import BUILT_IN, PolicyHistory
from connector.domain.desired import COST_KINDS, usage_costs
from connector.domain.errors import TokenbooksError
from connector.domain.facts import CostBasis
from connector.domain.journals import Journal, JournalKind
from connector.domain.mapping import MappingSet
from connector.domain.mapping_history import HistoryClassifier, MappingHistory
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period
from connector.domain.policies import COUNTER_ROLE
from connector.domain.reconcile import InvoiceBreakdown, ReconInput, ReconResult, Tolerance, reconcile
from connector.ledgers.port import Ledger, LedgerJournal
from connector.service.books import role_targets
from connector.service.runs import Clock, RunRecorder, exclusive
from connector.store.repositories import StoredJournal, UnitOfWork
from connector.store.tables import InvoiceRow, ReconciliationRow

Account = tuple[str, str]  # (provider, provider account)


@dataclass
class _Figures:
    currency: str = "USD"
    cost_exact: Decimal = ZERO
    estimated: Decimal = ZERO
    rounded: Decimal = ZERO
    posted: Decimal = ZERO
    queued: Decimal = ZERO
    invoice: Decimal | None = None
    ledger: Decimal | None = None
    drifted: list[str] = field(default_factory=list)
    tax: Decimal = ZERO
    credits: Decimal = ZERO
    adjustments: Decimal = ZERO
    late: Decimal = ZERO
    issued: date | None = None  # the latest issue date of the period's invoices


def reconcile_period(
    engine: Engine,
    *,
    mapping: MappingSet,
    entity: str,
    period: Period,
    ledger: Ledger | None,
    recorder: RunRecorder,
    clock: Clock,
    tolerance: Callable[[str], Tolerance] = lambda provider: Tolerance(),
    history: MappingHistory | None = None,
    policies: PolicyHistory | None = None,
) -> list[ReconResult]:
    """Reconcile `period`; provider cost is classified by the mapping version in force on each day
    (`history`, by default `mapping` alone) and bucketed by the accounting policies (by default the
    built-in ones), as the planner did, so rounding per bucket agrees."""
    figures: dict[Account, _Figures] = defaultdict(_Figures)
    with UnitOfWork(engine) as uow:
        stored = uow.facts.current(entity, period.first_day, period.last_day)
        journals = uow.outbox.for_bucket_periods(entity, period.first_day, period.last_day)
        invoices = uow.invoices.for_period(entity, str(period))
        _invoices(figures, invoices)
        for (provider, account), f in figures.items():
            if f.issued is not None:
                f.late = _late_usage(uow, entity, provider, account, period, f.issued)
    buckets = partial(
        usage_costs,
        policies=policies or PolicyHistory.of([BUILT_IN]),
        entity=entity,
        role_target=role_targets(mapping, mapping.entity(entity).ledger),
    )
    _cost(figures, [s.fact for s in stored], (history or MappingHistory.of([mapping])).classifier(), buckets)
    _posted(figures, journals, period)
    if ledger is not None:
        _read_back(figures, journals, ledger, mapping, entity, period, engine, recorder, clock)
    results = [
        reconcile(
            ReconInput(
                entity=entity,
                provider=provider,
                provider_account=account,
                period=str(period),
                currency=f.currency,
                provider_cost_exact=f.cost_exact,
                provider_cost_rounded_by_bucket=f.rounded,
                estimated_cost=f.estimated,
                posted_total=f.posted,
                queued_total=f.queued,
                invoice_total=f.invoice,
                ledger_total=f.ledger,
                drifted_keys=tuple(f.drifted),
                tolerance=tolerance(provider),
                breakdown=InvoiceBreakdown(f.tax, f.credits, f.adjustments, f.late),
            )
        )
        for (provider, account), f in sorted(figures.items())
    ]
    _store(engine, results, recorder, clock)
    return results


def _invoices(figures: dict[Account, _Figures], invoices: list[InvoiceRow]) -> None:
    for invoice in invoices:
        f = figures[(invoice.provider, invoice.provider_account)]
        f.invoice = (f.invoice or ZERO) + invoice.total
        f.issued = max(f.issued or invoice.issue_date, invoice.issue_date)
        for line in invoice.lines:
            amount = Decimal(str(line["amount"]))
            if line.get("kind") == "tax":
                f.tax += amount
            elif line.get("kind") == "credit":
                f.credits += amount
            elif line.get("kind") == "adjustment":
                f.adjustments += amount


def _late_usage(
    uow: UnitOfWork, entity: str, provider: str, account: str, period: Period, issued: date
) -> Decimal:
    """Cost the provider reported (or restated) after the invoice was issued: now − as known then."""
    cutoff = datetime.combine(issued + timedelta(days=1), time(0), tzinfo=UTC)
    now_total = then_total = ZERO
    for row in uow.facts.all_versions(entity, provider, account, period.first_day, period.last_day):
        if row.is_current:
            now_total += row.amount
        if row.pulled_at < cutoff and (row.superseded_at is None or row.superseded_at >= cutoff):
            then_total += row.amount
    return now_total - then_total


def _cost(figures: dict[Account, _Figures], facts: list, classifier: HistoryClassifier, buckets) -> None:
    allocations = classifier.classify_all(facts)
    for fact in facts:
        f = figures[(fact.provider, fact.provider_account)]
        f.currency = fact.currency
        f.cost_exact += fact.amount
        if fact.cost_basis is CostBasis.ESTIMATED:
            f.estimated += fact.amount
    for bucket, amount in buckets(allocations).items():
        figures[(bucket.provider, bucket.provider_account)].rounded += quantize(amount, bucket.currency)


def _posted(figures: dict[Account, _Figures], journals: list[StoredJournal], period: Period) -> None:
    """What tokenbooks posted *for* the period: contributions to its buckets, whatever the journal's date."""
    for stored in journals:
        amount = _usage_amount(stored.journal, period)
        f = figures[(stored.journal.provider, stored.journal.provider_account)]
        if stored.status == "posted":
            f.posted += amount
        elif stored.status != "rejected":
            f.queued += amount


def _usage_amount(journal: Journal, period: Period | None = None) -> Decimal:
    """The provider cost a journal books — accrued, capitalized or drawn from prepaid credits — (to the
    period's buckets only, when a period is given)."""
    return sum(
        (
            c.amount
            for c in journal.contributions
            if c.bucket.kind in COST_KINDS and (period is None or period.contains(c.bucket.period))
        ),
        ZERO,
    )


def _read_back(
    figures: dict[Account, _Figures],
    journals: list[StoredJournal],
    ledger: Ledger,
    mapping: MappingSet,
    entity: str,
    period: Period,
    engine: Engine,
    recorder: RunRecorder,
    clock: Clock,
) -> None:
    """Compare what the ledger holds under our keys with what we posted; queue missing journals again."""
    posted = [s for s in journals if s.status == "posted"]
    if not posted:
        return
    held = {
        j.key: j
        for j in ledger.read_back(
            min(s.journal.txn_date for s in posted), max(s.journal.txn_date for s in posted)
        )
    }
    counter_ids = _counter_account_ids(ledger, mapping, mapping.entity(entity).ledger)
    for f in figures.values():
        f.ledger = ZERO
    for stored in posted:
        f = figures[(stored.journal.provider, stored.journal.provider_account)]
        copy = held.get(stored.journal.key)
        if copy is None:
            f.drifted.append(f"{stored.journal.key} (missing)")
            _queue_again(engine, stored, recorder, clock)
            continue
        if sorted(ln.amount for ln in copy.lines) != sorted(ln.amount for ln in stored.journal.lines):
            f.drifted.append(f"{stored.journal.key} (changed)")
        f.ledger += _ledger_usage_amount(copy, counter_ids) * _share_in(stored.journal, period)


def _share_in(journal: Journal, period: Period) -> Decimal:
    """The part of a journal's accrual that belongs to the period (1 unless it gathers several months)."""
    total = _usage_amount(journal)  # 0: no provider cost (a true-up, an expiry, revenue …): none of it
    return ZERO if total == 0 else _usage_amount(journal, period) / total


def _counter_account_ids(ledger: Ledger, mapping: MappingSet, ledger_name: str) -> set[str]:
    """The accounts that balance provider cost: Accrued AI costs, and Prepaid AI credits where bound."""
    kinds = (JournalKind.USAGE_ACCRUAL, JournalKind.PREPAID_CONSUMPTION)
    roles = {COUNTER_ROLE[k] for k in kinds if mapping.has_role(COUNTER_ROLE[k], ledger_name)}
    references = {mapping.role_target(role, ledger_name).account for role in roles}
    return {a.id for a in ledger.chart_of_accounts() if references & a.references()} | references


def _ledger_usage_amount(copy: LedgerJournal, counter_ids: set[str]) -> Decimal:
    """What a ledger journal accrues: minus its lines on the Accrued AI costs account."""
    return -sum((ln.amount for ln in copy.lines if ln.account in counter_ids), ZERO)


def _queue_again(engine: Engine, stored: StoredJournal, recorder: RunRecorder, clock: Clock) -> None:
    with UnitOfWork(engine) as uow:
        uow.outbox.replan(stored.id, run_id=recorder.run_id)
        uow.commit()
    recorder.event(
        "reconcile.drift",
        f"{stored.journal.key} is missing from the ledger; it will be posted again by the next sync",
        level="warning",
        data={"key": stored.journal.key, "ledger_id": stored.ledger_id},
    )


def _store(engine: Engine, results: list[ReconResult], recorder: RunRecorder, clock: Clock) -> None:
    with UnitOfWork(engine) as uow:
        for r in results:
            d = r.input
            uow.reconciliations.add(
                ReconciliationRow(
                    run_id=recorder.run_id,
                    entity=d.entity,
                    provider=d.provider,
                    provider_account=d.provider_account,
                    period=d.period,
                    currency=d.currency,
                    provider_cost=r.provider_cost,
                    invoice_total=d.invoice_total,
                    posted_total=d.posted_total,
                    ledger_total=d.ledger_total,
                    status=r.status.value,
                    findings=[f.as_dict() for f in r.findings]
                    + [{"explained": label, "amount": str(amount)} for label, amount in r.explained],
                    created_at=clock(),
                    coverage=r.coverage,
                    variance=r.variance,
                    tolerance=d.tolerance.allowance(d.invoice_total or ZERO),
                )
            )
        uow.commit()


# ------------------------------------------------------------------------------------- a reconcile run


class ReconcileContext(Protocol):
    engine: Engine
    clock: Clock
    actor: str

    def mapping(self) -> tuple[MappingSet, str]: ...

    def ledger(self, entity: str) -> Ledger: ...

    def tolerance(self, provider: str) -> Tolerance: ...

    def mapping_history(self) -> MappingHistory: ...

    def policy_history(self) -> PolicyHistory: ...


def reconcile_run(
    ctx: ReconcileContext, *, entity: str, period: Period, read_back: bool = True
) -> list[ReconResult]:
    """A recorded reconciliation run of one entity and month, holding the entity's lock."""
    with exclusive(ctx.engine, ctx.clock, entity=entity, kind="reconcile", actor=ctx.actor):
        recorder = RunRecorder(
            ctx.engine,
            ctx.clock,
            actor=ctx.actor,
            kind="reconcile",
            entity=entity,
            params={"period": str(period), "read_back": read_back},
        )
        try:
            mapping, _ = ctx.mapping()
            results = reconcile_period(
                ctx.engine,
                mapping=mapping,
                entity=entity,
                period=period,
                ledger=ctx.ledger(entity) if read_back else None,
                recorder=recorder,
                clock=ctx.clock,
                tolerance=ctx.tolerance,
                history=ctx.mapping_history(),
                policies=ctx.policy_history(),
            )
        except TokenbooksError as exc:
            recorder.finish("failed", reason=str(exc))
            raise
        recorder.finish(
            "succeeded",
            stats={f"{r.input.provider}/{r.input.provider_account}": r.status.value for r in results},
        )
        return results
