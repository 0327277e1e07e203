"""Usage: token and request counts per day × key × model × tier, kept beside (never instead of) cost.

Cost is the truth; usage only enriches. Usage is stored in its own table so it can never be booked by
mistake. It serves two purposes: it shows what the money bought (tokens, models, keys, tiers), and where
a dimension exists only in usage (the API key, for Anthropic) it weighs a billed cost bucket's split
across that dimension. The split keeps the bucket total exact (largest remainder at the fact's own
precision) and says in the facts' dimensions that it is usage-proportional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from connector.domain.facts import Dimensions, Fact, natural_key
from connector.domain.money import ZERO, allocate, split_quantum

SPLIT_BASIS = "split_basis"  # the dimension that records how a billed bucket was split
QTY = Decimal("0.000001")  # a split share's quantity is informative; the amount is what stays exact


@dataclass(frozen=True, slots=True)
class Usage:
    """One provider usage bucket: counts, not money."""

    entity: str
    provider: str
    provider_account: str
    usage_date: date  # the provider's UTC day
    posting_date: date  # the entity's local day
    natural_key: str
    dimensions: Dimensions = field(default_factory=Dimensions)
    metrics: tuple[tuple[str, Decimal], ...] = ()  # e.g. ("input_tokens", Decimal(1000))
    version: int = 1
    source: str = ""

    def metric(self, name: str) -> Decimal:
        for key, value in self.metrics:
            if key == name:
                return value
        return ZERO

    def metrics_dict(self) -> dict[str, Decimal]:
        return dict(self.metrics)


def split_fact(
    fact: Fact, weights: Sequence[tuple[str | None, Decimal]], *, dimension: str, basis: str
) -> list[Fact]:
    """Split a billed fact across the values of `dimension` in proportion to `weights`.

    The shares sum exactly to the fact (`allocate`, largest remainder, at the fact's own precision).
    Each share is a fact of its own with a stable natural key derived from the bucket's and the value's,
    and `split_basis` saying how it was weighed. Without any positive weight the fact stays whole.
    """
    merged: dict[str | None, Decimal] = {}
    for value, weight in weights:
        merged[value] = merged.get(value, ZERO) + weight
    positive = [(value, weight) for value, weight in merged.items() if weight > 0]
    if not positive:
        return [fact]
    positive.sort(key=lambda pair: (pair[0] is None, pair[0] or ""))
    unit = split_quantum(fact.amount, fact.currency)
    amounts = allocate(fact.amount, [w for _, w in positive], unit)
    total_weight = sum((w for _, w in positive), ZERO)
    shares = []
    for (value, weight), amount in zip(positive, amounts, strict=True):
        dims = {**fact.dimensions.as_dict(), dimension: value, SPLIT_BASIS: basis}
        quantity = None if fact.quantity is None else (fact.quantity * weight / total_weight).quantize(QTY)
        shares.append(
            replace(
                fact,
                amount=amount,
                quantity=quantity,
                dimensions=Dimensions.of(dims),
                natural_key=natural_key(
                    fact.provider, fact.provider_account, fact.natural_key, dimension, value
                ),
            )
        )
    return shares
