"""Prices: an effective-dated catalog of token prices, and the pure function that prices usage with it.

Cost is the truth; the catalog is used only where a provider reports tokens without a cost (Anthropic
Priority Tier usage, which the cost report leaves out) and to weigh usage when a billed cost is split
across a dimension only usage has (API keys). Every amount priced here is an estimate and is flagged so.

A rate is a price per `per` units (per million tokens, per thousand searches …), optionally tiered by
volume: each tier's price applies to the units from its `start` up to the next tier's start. 1M tokens
at $60/M, the next 4M at $50/M and everything above 5M at $40/M make 6M tokens cost 60 + 200 + 40 = $300.
Tiers accumulate over the price list's tier period (`tier_period`: a calendar month by default, or a
day): a `TierMeter` remembers the volume it priced in each period, so 6M tokens reported as two records
of 3M cost what 6M cost together ($300), whatever the order or the pull windows they arrive in.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from connector.domain.money import ZERO, currency_code

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Tier:
    start: Decimal  # the unit from which `price` applies (0 for the first tier)
    price: Decimal  # per `Rate.per` units


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of one kind of unit (input tokens, output tokens, web searches …)."""

    tiers: tuple[Tier, ...]
    per: Decimal = MILLION

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[0].start != 0:
            raise ValueError("a rate's first tier must start at 0")
        starts = [t.start for t in self.tiers]
        if starts != sorted(set(starts)):
            raise ValueError("tier starts must be strictly increasing")
        if any(t.price < 0 for t in self.tiers) or self.per <= 0:
            raise ValueError("prices must not be negative and `per` must be positive")

    @classmethod
    def flat(cls, price: Decimal | str, per: Decimal = MILLION) -> Rate:
        return cls((Tier(ZERO, Decimal(price)),), per)

    def cost(self, quantity: Decimal, already: Decimal = ZERO) -> Decimal:
        """The exact cost of `quantity` units bought after `already` units in the same tier period."""
        return tiered_cost(quantity, self.tiers, self.per, already)


def tiered_cost(
    quantity: Decimal, tiers: Sequence[Tier], per: Decimal = MILLION, already: Decimal = ZERO
) -> Decimal:
    """Cost of the units from `already` to `already + quantity`, each tier at its own price."""
    if quantity < 0 or already < 0:
        raise ValueError("quantities must not be negative")
    low, high = Decimal(already), Decimal(already) + Decimal(quantity)
    total = ZERO
    for index, tier in enumerate(tiers):
        tier_end = tiers[index + 1].start if index + 1 < len(tiers) else None
        start = max(low, tier.start)
        end = high if tier_end is None else min(high, tier_end)
        if end > start:
            total += (end - start) * tier.price / per
    return total


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One catalog entry: a provider's prices for a model (or a glob of models) from a date on."""

    provider: str
    model: str  # an exact model name or a glob such as "claude-sonnet-4*"
    effective_from: date
    currency: str
    rates: tuple[tuple[str, Rate], ...]  # unit kind → rate, e.g. ("input", …), ("cache_write_1h", …)
    batch_multiplier: Decimal = Decimal(1)  # batch jobs cost this share of the standard price
    tier_multipliers: tuple[tuple[str, Decimal], ...] = ()  # service tier → multiplier (e.g. priority)
    note: str = ""  # where the prices come from
    tier_period: str = "month"  # volume tiers count usage over: "month", "day", or "call" (each alone)

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", currency_code(self.currency))

    def rate(self, kind: str) -> Rate | None:
        return dict(self.rates).get(kind)

    def multiplier(self, service_tier: str | None, batch: bool) -> Decimal:
        factor = dict(self.tier_multipliers).get(service_tier or "", Decimal(1))
        return factor * (self.batch_multiplier if batch or service_tier == "batch" else Decimal(1))

    def matches(self, model: str) -> bool:
        return self.model == model or fnmatch.fnmatchcase(model, self.model)

    @property
    def tiered(self) -> bool:
        return self.tier_period != "call" and any(len(rate.tiers) > 1 for _, rate in self.rates)

    def tier_period_of(self, day: date) -> date | None:
        """The first day of the tier period holding `day` (None: tiers restart with every call)."""
        if self.tier_period == "call":
            return None
        return day if self.tier_period == "day" else day.replace(day=1)


@dataclass(frozen=True, slots=True)
class PricedUsage:
    amount: Decimal  # exact, unrounded, in `currency`
    currency: str
    unpriced: tuple[str, ...] = ()  # unit kinds with a quantity but no rate in the catalog
    entry: ModelPrice | None = None

    @property
    def complete(self) -> bool:
        return self.entry is not None and not self.unpriced


@dataclass(frozen=True)
class PriceCatalog:
    """Every known price, looked up by provider, model and day."""

    entries: tuple[ModelPrice, ...] = ()
    source: str = ""
    _by_provider: dict[str, list[ModelPrice]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries:
            self._by_provider.setdefault(entry.provider, []).append(entry)

    def tiered(self, provider: str) -> bool:
        """Whether any of the provider's prices has volume tiers that accumulate over a period."""
        return any(entry.tiered for entry in self._by_provider.get(provider, []))

    def price_for(self, provider: str, model: str | None, day: date) -> ModelPrice | None:
        """The entry in force on `day`: an exact name beats a glob, a longer (more specific) glob beats a
        shorter one, and among entries for the same pattern the latest effective date wins."""
        if not model:
            return None
        candidates = [
            e for e in self._by_provider.get(provider, []) if e.effective_from <= day and e.matches(model)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda e: (e.model == model, len(e.model), e.effective_from))


def price_usage(
    entry: ModelPrice | None,
    quantities: Mapping[str, Decimal],
    *,
    service_tier: str | None = None,
    batch: bool = False,
    already: Mapping[str, Decimal] | None = None,
    currency: str = "USD",
) -> PricedUsage:
    """The estimated cost of some usage: Σ over unit kinds of rate × quantity, times the tier multiplier."""
    wanted = {kind: Decimal(q) for kind, q in quantities.items() if q}
    if entry is None:
        return PricedUsage(ZERO, currency, tuple(sorted(wanted)))
    total, unpriced = ZERO, []
    for kind, quantity in sorted(wanted.items()):
        rate = entry.rate(kind)
        if rate is None:
            unpriced.append(kind)
            continue
        total += rate.cost(quantity, (already or {}).get(kind, ZERO))
    return PricedUsage(total * entry.multiplier(service_tier, batch), entry.currency, tuple(unpriced), entry)


class TierMeter:
    """Usage priced so far per price entry, unit kind and tier period, so that volume tiers accumulate:
    each quantity is priced from where the period's earlier usage left the tiers. Price usage in date order
    (the records of a period's earlier days first, even those outside the window being booked)."""

    def __init__(self) -> None:
        self._used: dict[tuple, Decimal] = {}

    def price(
        self,
        entry: ModelPrice | None,
        quantities: Mapping[str, Decimal],
        day: date,
        *,
        service_tier: str | None = None,
        batch: bool = False,
    ) -> PricedUsage:
        if entry is None:
            return price_usage(None, quantities, service_tier=service_tier, batch=batch)
        period = entry.tier_period_of(day)
        keys = {
            kind: (entry.provider, entry.model, entry.effective_from, kind, period) for kind in quantities
        }
        already = {kind: self._used.get(key, ZERO) for kind, key in keys.items()} if period else {}
        priced = price_usage(entry, quantities, service_tier=service_tier, batch=batch, already=already)
        if period is not None:
            for kind, quantity in quantities.items():
                if quantity and entry.rate(kind) is not None:
                    self._used[keys[kind]] = self._used.get(keys[kind], ZERO) + Decimal(quantity)
        return priced
