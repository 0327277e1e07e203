"""Books: what a plan needs beyond the classified usage, and what the policies do to its journals.

Loads the inputs of `domain/desired.py` — credit lots, the customer credit ledger, invoices, and what was
posted before the plan window (prepaid draws and capitalized cohorts continue from it) — and applies what
depends on the entity's ledger and policies around the planner:

- currencies: where the ledger cannot hold a journal in the provider's currency, each bucket is converted
  into the books' currency at the rate of the day it belongs to, rounded once; where it can (QuickBooks
  with multicurrency), the journal stays in the provider's currency and carries the rate of its date;
  either way the rate is stored with the journal and written in its memo;
- holds: a true-up beyond the invoice tolerance, the `approve` posting mode, and the `draft` mode on a
  ledger without draft journals (QuickBooks) keep the journal in the outbox until `tokenbooks approve`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from connector.domain.accounting_policy import BUILT_IN, PolicyHistory, PostingMode
from connector.domain.desired import BooksInput, Desired, MissingRole
from connector.domain.errors import ConfigError
from connector.domain.fx import Rate, RateTable, convert
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.journals import Bucket, Journal, JournalKind, LedgerTarget
from connector.domain.mapping import Allocation, MappingSet
from connector.domain.money import ZERO
from connector.domain.planner import PlannedJournal, Review
from connector.store.repositories import UnitOfWork

HISTORY_KINDS = (
    JournalKind.USAGE_ACCRUAL,
    JournalKind.CAPITALIZATION,
    JournalKind.PREPAID_CONSUMPTION,
    JournalKind.TRUE_UP,
)
LedgerRate = Callable[[str, str, date], Rate | None]


@dataclass(frozen=True, slots=True)
class CurrencyPlan:
    """How amounts in a currency other than the books' reach the ledger."""

    home: str
    foreign_journals: bool  # the ledger takes them as they are, with a rate (QuickBooks multicurrency)
    rates: RateTable = field(default_factory=RateTable)
    ledger_rate: LedgerRate | None = None  # the ledger's own rate of a day, when the policy prefers it

    def rate(self, base: str, day: date) -> Rate:
        found = self.ledger_rate(base, self.home, day) if self.ledger_rate else None
        found = found or self.rates.rate(base, self.home, day)
        if found is None:
            problem = self.rates.missing(base, self.home, day)
            raise ConfigError(
                f"no exchange rate from {base} to {self.home} for {day}: {problem.message}",
                fix=problem.fix,
                problems=[problem],
            )
        return found


@dataclass(frozen=True, slots=True)
class BookOptions:
    """How a plan books, beyond the mapping: the policies, the day it books as of, posting, currency."""

    policies: PolicyHistory
    as_of: date
    posting_mode: PostingMode = PostingMode.AUTO
    ledger_name: str = "the ledger"
    drafts: bool = False  # the ledger keeps draft journals (Xero)
    currency: CurrencyPlan | None = None  # None: nothing to convert (the ledger is not even asked)


def local_day(now: datetime, timezone: str) -> date:
    """The entity's calendar day at `now`: what has happened "as of" a run."""
    return now.astimezone(ZoneInfo(timezone)).date()


def default_options(now: datetime, timezone: str) -> BookOptions:
    return BookOptions(PolicyHistory.of([BUILT_IN]), local_day(now, timezone))


def role_targets(mapping: MappingSet, ledger: str) -> Callable[[str], LedgerTarget]:
    """A role's ledger target for the domain (which raises MissingRole for an unbound role)."""

    def target(role: str) -> LedgerTarget:
        if not mapping.has_role(role, ledger):
            raise MissingRole(role)
        return mapping.role_target(role, ledger)

    return target


def missing_role(error: MissingRole, mapping: MappingSet, ledger: str) -> ConfigError:
    return ConfigError(
        f"the journals tokenbooks must post need the {error.role!r} role, which the mapping {mapping.source} "
        f"does not bind for {ledger}",
        fix=f'add `{error.role}: {{{ledger}: "<account>"}}` under roles (docs/accounting-policies.md says '
        "which journal uses which role)",
    )


def books_input(
    uow: UnitOfWork,
    *,
    entity: str,
    first: date,
    last: date,
    allocations: list[Allocation],
    options: BookOptions,
    role_target: Callable[[str], LedgerTarget],
) -> BooksInput:
    return BooksInput(
        entity=entity,
        as_of=options.as_of,
        first_day=first,
        last_day=last,
        policies=options.policies,
        role_target=role_target,
        allocations=allocations,
        history=uow.outbox.posted_by_bucket(entity, last_day=first - timedelta(days=1), kinds=HISTORY_KINDS),
        lots=uow.credit_lots.for_entity(entity),
        customer_events=uow.customer_credits.for_entity(entity),
        invoices=[_invoice(row) for row in uow.invoices.for_entity(entity)],
    )


def _invoice(row) -> Invoice:
    lines = tuple(
        InvoiceLine(ln["description"], Decimal(ln["amount"]), ln.get("kind", "usage")) for ln in row.lines
    )
    return Invoice(
        row.entity,
        row.provider,
        row.provider_account,
        row.number,
        row.period,
        row.issue_date,
        row.total,
        row.currency,
        lines,
        row.source,
    )


# ------------------------------------------------------------------------------------------- currency


@dataclass
class Converted:
    """Desired amounts in the currencies the ledger takes, and the rate behind each converted bucket."""

    amounts: dict[Bucket, Decimal]
    rates: dict[Bucket, list[Rate]] = field(default_factory=dict)


def in_ledger_currency(desired: Desired, plan: CurrencyPlan | None) -> Converted:
    """Convert what the ledger cannot hold in its own currency: each bucket once, at its day's rate."""
    if plan is None or plan.foreign_journals:
        return Converted(dict(desired.amounts))
    out = Converted({})
    for bucket, amount in desired.amounts.items():
        if bucket.currency == plan.home:
            out.amounts[bucket] = out.amounts.get(bucket, ZERO) + amount
            continue
        rate = plan.rate(bucket.currency, bucket.period)
        exact = desired.exact.get(bucket, amount)  # usage: the exact total, so it is rounded only once
        home = replace(bucket, currency=plan.home)
        out.amounts[home] = out.amounts.get(home, ZERO) + convert(exact, rate)
        out.rates.setdefault(home, []).append(rate)
    return out


def with_rates(
    planned: list[PlannedJournal], converted: Converted, plan: CurrencyPlan | None
) -> list[PlannedJournal]:
    """Each journal with the rate it was converted at (or, in another currency, the rate of its date)."""
    if plan is None:
        return planned
    return [replace(p, journal=_rated(p.journal, converted, plan)) for p in planned]


def _rated(journal: Journal, converted: Converted, plan: CurrencyPlan) -> Journal:
    if journal.currency != plan.home:  # QuickBooks multicurrency: the ledger converts at this rate
        rate = plan.rate(journal.currency, journal.txn_date)
        return replace(
            journal, exchange_rate=rate.rate, memo=f"{journal.memo}. Exchange rate {rate.describe()}"
        )
    rates = sorted({r for c in journal.contributions for r in converted.rates.get(c.bucket, [])})
    if not rates:
        return journal
    sources = sorted({r.base for r in rates})
    used = "; ".join(f"{r.describe()}" for r in rates)
    return replace(
        journal,
        converted_from=sources[0] if len(sources) == 1 else None,
        exchange_rate=rates[0].rate if len({r.rate for r in rates}) == 1 else None,
        memo=f"{journal.memo}. Converted from {', '.join(sources)} at {used}",
    )


# ---------------------------------------------------------------------------------------------- holds


def review_for(options: BookOptions, desired: Desired) -> Review:
    """Why a journal waits for a controller: the posting mode, or a true-up beyond tolerance."""

    def review(journal: Journal) -> str:
        if options.posting_mode is PostingMode.APPROVE:
            return "posting mode approve: held until a controller approves it (`tokenbooks approve`)"
        if options.posting_mode is PostingMode.DRAFT and not options.drafts:
            return (
                f"posting mode draft: {options.ledger_name} has no draft journals, so this one waits in "
                "tokenbooks as a draft; review it and release it with `tokenbooks approve`"
            )
        return next((r for c in journal.contributions if (r := desired.hold_reason(c.bucket))), "")

    return review
