"""Accounting policies: how allocations become desired amounts per posting bucket, and which account
balances each kind of journal.

Usage billed in arrears is accrued: Dr the category account, Cr Accrued AI costs. The buckets that one
journal balances against Accrued AI costs — a provider account's usage of one day (or month) — are
rounded together (`round_usage`): each to the currency's minor unit, and together to their exact total
rounded once. So the liability follows the provider's cost, and a mapping change that only moves
amounts between category accounts moves them exactly: its reclass nets to zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum

from connector.domain.facts import ChargeCategory
from connector.domain.journals import Bucket, JournalKind, LedgerTarget
from connector.domain.mapping import Allocation, MappingSet
from connector.domain.money import ZERO, round_preserving_total
from connector.domain.periods import Period
from connector.domain.planner import CounterTarget


class Granularity(StrEnum):
    DAILY = "daily"  # one accrual per usage day, dated that day
    MONTHLY = "monthly"  # one accrual per period, dated its last day


# The account that balances each journal kind (the credit side of an expense, the debit of revenue …).
COUNTER_ROLE: dict[JournalKind, str] = {
    JournalKind.USAGE_ACCRUAL: "accrued_ai_costs",
    JournalKind.REVERSAL: "accrued_ai_costs",
    JournalKind.TRUE_UP: "accrued_ai_costs",
    JournalKind.PREPAID_CONSUMPTION: "prepaid_ai_credits",
    JournalKind.EXPIRY_WRITE_OFF: "prepaid_ai_credits",
    JournalKind.CAPITALIZATION: "accrued_ai_costs",
    JournalKind.AMORTIZATION: "accumulated_amortization",
    JournalKind.REVENUE: "deferred_revenue",
    JournalKind.BREAKAGE: "deferred_revenue",
    # usage a promotional credit paid for: the provider bills it net, so the accrual is relieved and the
    # credit lands on the promotional_credits role (a reduction of AI expense, ASC 705-20)
    JournalKind.PROMOTIONAL_CREDIT: "accrued_ai_costs",
}


def bucket_period(posting_date, granularity: Granularity):
    return posting_date if granularity is Granularity.DAILY else Period.of(posting_date).last_day


def usage_accrual_desired(
    allocations: Iterable[Allocation], granularity: Granularity = Granularity.DAILY
) -> dict[Bucket, Decimal]:
    """Desired cumulative accrual per bucket: Σ allocated usage, rounded once per bucket."""
    exact: dict[Bucket, Decimal] = {}
    for allocation in allocations:
        fact = allocation.fact
        if fact.charge_category is not ChargeCategory.USAGE:
            continue
        bucket = Bucket(
            entity=fact.entity,
            kind=JournalKind.USAGE_ACCRUAL,
            period=bucket_period(fact.posting_date, granularity),
            provider=fact.provider,
            provider_account=fact.provider_account,
            target=allocation.target,
            currency=fact.currency,
        )
        exact[bucket] = exact.get(bucket, ZERO) + allocation.amount
    return round_usage(exact)


def round_usage(exact: Mapping[Bucket, Decimal]) -> dict[Bucket, Decimal]:
    """Usage buckets (accrued or capitalized) rounded per balancing total: the buckets of one entity,
    day (or month), provider account and currency sum to their exact total rounded once."""
    groups: dict[tuple, list[Bucket]] = defaultdict(list)
    for bucket in exact:
        groups[
            (bucket.entity, bucket.period, bucket.provider, bucket.provider_account, bucket.currency)
        ].append(bucket)
    rounded: dict[Bucket, Decimal] = {}
    for key, buckets in groups.items():
        buckets.sort(key=Bucket.key)
        amounts = round_preserving_total([exact[b] for b in buckets], key[-1])
        rounded.update(zip(buckets, amounts, strict=True))
    return rounded


def counter_targets(mapping: MappingSet, ledger: str) -> CounterTarget:
    """For the planner: the balancing account of a bucket's journal, from the mapping's roles."""

    def counter(bucket: Bucket) -> LedgerTarget:
        return mapping.role_target(COUNTER_ROLE[bucket.kind], ledger)

    return counter
