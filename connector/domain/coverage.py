"""Coverage: how much of the spend an explicit mapping rule placed, and how much waits in suspense.

"Allocation accuracy" is the share of the dollars placed by a rule, per provider and period — the figure
a controller tracks to know the mapping keeps up with new projects and keys. Credits count as dollars
too (the share is taken on absolute amounts), so a refund in suspense lowers the figure instead of
raising it. The unmapped patterns say what to write the next rule for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from connector.domain.journals import LedgerTarget
from connector.domain.mapping import Allocation, Category
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period

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


def coverage(allocations: Iterable[Allocation]) -> list[Coverage]:
    """Mapped vs suspense spend per (provider, period, currency)."""
    sums: dict[tuple[str, str, str], list[Decimal]] = {}
    for a in allocations:
        key = (a.fact.provider, str(Period.of(a.fact.posting_date)), a.fact.currency)
        row = sums.setdefault(key, [ZERO, ZERO, ZERO, ZERO])
        offset = 1 if a.rule_id == "suspense" else 0
        row[offset] += a.amount
        row[2 + offset] += abs(a.amount)
    return [Coverage(*key, *row) for key, row in sorted(sums.items())]


@dataclass(frozen=True, slots=True)
class UnmappedPattern:
    """A kind of spend in suspense: its provider and dimensions, how much, over how many facts."""

    provider: str
    dimensions: tuple[tuple[str, str | None], ...]
    amount: Decimal
    facts: int

    def describe(self) -> str:
        shown = [f"{k}={v}" for k, v in self.dimensions if v is not None and k not in ("line_item",)]
        return f"{self.provider}: " + (", ".join(shown) or "(no project, workspace or key)")


def unmapped_patterns(allocations: Iterable[Allocation], limit: int = 5) -> list[UnmappedPattern]:
    """The largest kinds of spend in suspense, grouped by everything but the line item (model × token
    type varies too much to write a rule per line)."""
    groups: dict[tuple, list] = {}
    for a in allocations:
        if a.rule_id != "suspense":
            continue
        dims = tuple((k, v) for k, v in a.fact.dimensions.items if k != "line_item")
        group = groups.setdefault((a.fact.provider, dims), [ZERO, 0])
        group[0] += a.amount
        group[1] += 1
    patterns = [UnmappedPattern(p, d, amount, n) for (p, d), (amount, n) in groups.items()]
    return sorted(patterns, key=lambda u: (-abs(u.amount), u.describe()))[:limit]


def totals_by_target(
    allocations: Iterable[Allocation],
) -> dict[tuple[LedgerTarget, Category, str], Decimal]:
    """Totals per ledger target, category and currency, rounded per posting day and provider account as
    the journals are, so the preview's figures are the ones the ledger shows."""
    exact: dict[tuple, Decimal] = {}
    for a in allocations:
        fact = a.fact
        key = (a.target, a.category, fact.currency, fact.posting_date, fact.provider, fact.provider_account)
        exact[key] = exact.get(key, ZERO) + a.amount
    totals: dict[tuple[LedgerTarget, Category, str], Decimal] = {}
    for (target, category, currency, *_), amount in exact.items():
        key = (target, category, currency)
        totals[key] = totals.get(key, ZERO) + quantize(amount, currency)
    return totals
