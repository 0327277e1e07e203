"""Coverage: how much of the spend an explicit mapping rule placed, and how much waits in suspense.

"Allocation accuracy" is the share of the dollars placed by a rule, per provider and period — the figure
a controller tracks to know the mapping keeps up with new projects and keys. Credits count as dollars
too (the share is taken on absolute amounts), so a refund in suspense lowers the figure instead of
raising it. The unmapped patterns say what to write the next rule for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from connector.domain.facts import Dimensions, Fact
from connector.domain.journals import LedgerTarget
from connector.domain.mapping import SUSPENSE_RULE_ID, Allocation, Category
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period
from connector.domain.running_sums import merge_rows

RATIO = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Coverage:
    provider: str
    period: str  # YYYY-MM
    currency: str
    mapped: Decimal  # placed by an explicit rule
    suspense: Decimal  # matched no rule
    mapped_weight: Decimal  # Σ |amount| placed by a rule
    suspense_weight: Decimal  # Σ |amount| in suspense

    @property
    def total(self) -> Decimal:
        return self.mapped + self.suspense

    @property
    def accuracy(self) -> Decimal | None:
        """The share of the dollars a rule placed (0..1), None when there was no spend at all."""
        weight = self.mapped_weight + self.suspense_weight
        return None if weight == 0 else (self.mapped_weight / weight).quantize(RATIO)

    def as_dict(self) -> dict:
        return {
            "provider": self.provider,
            "period": self.period,
            "currency": self.currency,
            "total": self.total,
            "mapped": self.mapped,
            "suspense": self.suspense,
            "accuracy": self.accuracy,
        }


@dataclass(frozen=True, slots=True)
class UnmappedPattern:
    """A kind of spend in suspense: its provider and dimensions, how much, over how many facts."""

    provider: str
    currency: str  # a provider may bill accounts in several currencies: their spend is never added up
    dimensions: tuple[tuple[str, str | None], ...]
    amount: Decimal
    facts: int

    def describe(self) -> str:
        shown = [f"{k}={v}" for k, v in self.dimensions if v is not None and k not in ("line_item",)]
        return f"{self.provider}: " + (", ".join(shown) or "(no project, workspace or key)")


class SpendSummary:
    """Classified spend summed per day, provider account and placement, fed allocations chunk by chunk.

    What a plan reports from its allocations — coverage, the largest unmapped kinds of spend, totals per
    target, suspense and the total allocated — in one pass of a few dictionary updates per allocation,
    holding one entry per distinct placement and day (and per unmapped dimension set), never the
    allocations themselves: a month of a million facts is summed without being held.
    """

    def __init__(self) -> None:
        # (provider, day, account, currency, target, category, in suspense)
        #   → [Σ amount, Σ |amount|, allocations]: counted, so that what was added can be taken back
        self._sums: dict[tuple, list] = {}
        self._unmapped: dict[tuple, list] = {}  # (provider, currency, dimensions but line item) → [Σ, facts]
        self._without_line_item: dict[Dimensions, tuple] = {}

    @classmethod
    def of(cls, allocations: Iterable[Allocation]) -> SpendSummary:
        summary = cls()
        summary.add(allocations)
        return summary

    def add(self, allocations: Iterable[Allocation]) -> None:
        sums = self._sums
        for a in allocations:
            fact = a.fact
            suspense = a.rule_id == SUSPENSE_RULE_ID
            key = (
                fact.provider,
                fact.posting_date,
                fact.provider_account,
                fact.currency,
                a.target,
                a.category,
                suspense,
            )
            row = sums.get(key)
            if row is None:
                row = sums[key] = [ZERO, ZERO, 0]
            row[0] += a.amount
            row[1] += abs(a.amount)
            row[2] += 1
            if suspense:
                self._add_unmapped(fact, a.amount)

    def state(self) -> tuple[dict[tuple, list], dict[tuple, list]]:
        """What was summed so far (a day's, kept for the next plan: `day_sums.py`): the sums per placement
        and day, and the unmapped spend per kind."""
        return self._sums, self._unmapped

    def absorb(
        self, sums: dict[tuple, list], unmapped: dict[tuple, list], *, take_back: bool = False
    ) -> None:
        """Add what another SpendSummary summed, as if its allocations had been added here — or,
        `take_back`, as if they had never been (see `domain/running_sums.py`)."""
        merge_rows(self._sums, sums, take_back=take_back)
        merge_rows(self._unmapped, unmapped, take_back=take_back)

    def _add_unmapped(self, fact: Fact, amount: Decimal) -> None:
        dims = self._without_line_item.get(fact.dimensions)
        if dims is None:  # grouped by everything but the line item: model × token type varies too much
            dims = tuple((k, v) for k, v in fact.dimensions.items if k != "line_item")
            self._without_line_item[fact.dimensions] = dims
        group = self._unmapped.setdefault((fact.provider, fact.currency, dims), [ZERO, 0])
        group[0] += amount
        group[1] += 1

    @property
    def allocated(self) -> Decimal:
        return sum((row[0] for row in self._sums.values()), ZERO)

    def suspense(self) -> dict[tuple[str, str], Decimal]:
        """What went to suspense per (provider, currency): a provider may bill in several currencies
        (one account in euros, another in dollars), whose amounts are never added together."""
        totals: dict[tuple[str, str], Decimal] = {}
        for (provider, _day, _account, currency, *_, suspense), (amount, _weight, _n) in self._sums.items():
            if suspense:
                totals[provider, currency] = totals.get((provider, currency), ZERO) + amount
        return totals

    def coverage(self) -> list[Coverage]:
        """Mapped vs suspense spend per (provider, period, currency)."""
        sums: dict[tuple[str, str, str], list[Decimal]] = {}
        for (provider, day, _account, currency, *_, suspense), (amount, weight, _n) in self._sums.items():
            row = sums.setdefault((provider, str(Period.of(day)), currency), [ZERO, ZERO, ZERO, ZERO])
            row[int(suspense)] += amount
            row[2 + int(suspense)] += weight
        return [Coverage(*key, *row) for key, row in sorted(sums.items())]

    def unmapped_patterns(self, limit: int = 5) -> list[UnmappedPattern]:
        """The largest kinds of spend in suspense."""
        patterns = [UnmappedPattern(p, c, d, amount, n) for (p, c, d), (amount, n) in self._unmapped.items()]
        return sorted(patterns, key=lambda u: (-abs(u.amount), u.describe()))[:limit]

    def totals_by_target(self) -> dict[tuple[LedgerTarget, Category, str], Decimal]:
        """Totals per ledger target, category and currency, rounded per posting day and provider account as
        the journals are, so the preview's figures are the ones the ledger shows."""
        exact: dict[tuple, Decimal] = {}
        for (provider, day, account, currency, target, category, _), (amount, _w, _n) in self._sums.items():
            key = (target, category, currency, day, provider, account)
            exact[key] = exact.get(key, ZERO) + amount
        totals: dict[tuple[LedgerTarget, Category, str], Decimal] = {}
        for (target, category, currency, *_), amount in exact.items():
            total_key = (target, category, currency)
            totals[total_key] = totals.get(total_key, ZERO) + quantize(amount, currency)
        return totals


def suspense_record(totals: dict[tuple[str, str], Decimal]) -> list[dict[str, str]]:
    """What went to suspense as a run or a plan records it (JSON): one row per provider and currency."""
    return [
        {"provider": provider, "currency": currency, "amount": str(amount)}
        for (provider, currency), amount in sorted(totals.items())
    ]


def suspense_of_record(recorded: object) -> dict[tuple[str, str], Decimal] | None:
    """What went to suspense per (provider, currency), read back from `suspense_record`; None for what was
    recorded before suspense was kept per currency (one total, of no provider or currency it could say)."""
    if not isinstance(recorded, list):
        return None
    return {(row["provider"], row["currency"]): Decimal(row["amount"]) for row in recorded}


def suspense_in_open_months(
    recorded: Iterable[dict], lock_date: date | None
) -> dict[tuple[str, str], Decimal] | None:
    """What sits in suspense in the months the ledger has not locked (every month when `lock_date` is None:
    no lock), per (provider,
    currency), from the statistics of an entity's successful syncs, oldest first.

    Each sync records the coverage of every month it planned, suspense included (`Coverage.as_dict`); a
    month keeps the figures of the last sync that planned it — a quiet night plans only the days its
    window reaches (or nothing: a skipped plan records no coverage), and leaves the other months as they
    were. None when no sync recorded coverage (statistics from before it was kept).
    """
    months: dict[str, dict[tuple[str, str], Decimal]] = {}
    for stats in recorded:
        planned: dict[str, dict[tuple[str, str], Decimal]] = {}
        for row in stats.get("coverage") or []:
            month = planned.setdefault(row["period"], {})
            key = (row["provider"], row["currency"])
            month[key] = month.get(key, ZERO) + Decimal(row["suspense"] or 0)
        months |= planned  # a month planned again: its figures replace the earlier ones, whole
    if not months:
        return None
    # the month of the first day after the lock is open (a lock in mid-month leaves the rest of it open)
    first_open = None if lock_date is None else Period.of(lock_date + timedelta(days=1))
    totals: dict[tuple[str, str], Decimal] = {}
    for period, amounts in months.items():
        if first_open is not None and Period.parse(period) < first_open:
            continue
        for key, amount in amounts.items():
            totals[key] = totals.get(key, ZERO) + amount
    return totals
