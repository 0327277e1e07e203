"""Facts: what a provider says was spent, normalised so every source looks alike.

A fact is one provider bucket (e.g. OpenAI cost for one day × project × line item). It carries its
natural key (the provider's bucket identity) so a re-pull of the same bucket replaces it instead of
adding to it, and a version that grows each time the provider restates it.

Cost is the truth; token usage only enriches. A fact priced by tokenbooks from token counts is
`CostBasis.ESTIMATED` and is never presented as billed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from connector.domain.money import currency_code


class CostBasis(StrEnum):
    BILLED = "billed"
    ESTIMATED = "estimated"


class ChargeCategory(StrEnum):
    """FOCUS ChargeCategory, lower-cased."""

    USAGE = "usage"
    PURCHASE = "purchase"
    CREDIT = "credit"
    TAX = "tax"
    ADJUSTMENT = "adjustment"


# Dimension names a mapping rule can match on. Tags are "tag:<name>".
STANDARD_DIMENSIONS = (
    "project",
    "workspace",
    "api_key",
    "model",
    "token_type",
    "service_tier",
    "line_item",
    "region",
    "service",
    "sku",
    "user",
    # ingestion (issue 3): what Anthropic and FOCUS sources add (docs/ingestion.md, docs/focus.md)
    "context_window",
    "cost_type",
    "sub_account",
    "sub_account_name",
    "service_subcategory",
    "sku_id",
    "resource",
    "publisher",
    "billing_period",
    "charge_class",
    "invoice",
    "split_basis",
    "price_basis",
    # FOCUS commitments, capacity reservations and virtual currency (issue 13, docs/focus.md)
    "commitment",
    "commitment_status",
    "capacity_reservation",
    "capacity_reservation_status",
    "pricing_currency",
    "prepaid_pool",
)

# The dimension naming the prepaid pool a fact's cost is drawn from (a FOCUS commitment, virtual currency
# or purchase term): the planner draws it from that pool's credit lots, whatever the account's policy.
PREPAID_POOL = "prepaid_pool"


@dataclass(frozen=True, slots=True)
class Dimensions:
    """An immutable, hashable set of named dimension values (None = not grouped / default)."""

    items: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, str | None] | None = None, **more: str | None) -> Dimensions:
        merged = {**(values or {}), **more}
        return cls(tuple(sorted(merged.items())))

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.items:
            if key == name:
                return value
        return default

    def as_dict(self) -> dict[str, str | None]:
        return dict(self.items)

    def tags(self) -> dict[str, str | None]:
        return {k.removeprefix("tag:"): v for k, v in self.items if k.startswith("tag:")}


@dataclass(frozen=True, slots=True)
class Fact:
    """One provider cost bucket, normalised. Amount is exact (not yet quantized)."""

    entity: str
    provider: str
    provider_account: str
    charge_date: date  # the provider's UTC day
    posting_date: date  # the entity's local accounting day
    amount: Decimal
    currency: str
    natural_key: str
    dimensions: Dimensions = field(default_factory=Dimensions)
    cost_basis: CostBasis = CostBasis.BILLED
    charge_category: ChargeCategory = ChargeCategory.USAGE
    quantity: Decimal | None = None
    unit: str | None = None
    version: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"fact amount must be Decimal, got {type(self.amount).__name__}")
        object.__setattr__(self, "currency", currency_code(self.currency))

    def dimension(self, name: str) -> str | None:
        """A dimension value, including the fact's own fields (provider, account, cost basis …)."""
        own = {
            "provider": self.provider,
            "account": self.provider_account,
            "provider_account": self.provider_account,
            "cost_basis": self.cost_basis.value,
            "charge_category": self.charge_category.value,
            "currency": self.currency,
            "entity": self.entity,
        }
        if name in own:
            return own[name]
        return self.dimensions.get(name)


def natural_key(provider: str, provider_account: str, *parts: object) -> str:
    """A stable, readable identity for a provider bucket: the same bucket always gets the same key."""
    text = key_text(provider, provider_account, *parts)
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    return f"{provider}:{digest}"


def key_text(*parts: object) -> str:
    """Parts of a natural key as `natural_key` joins them (None as empty). A source building many keys
    that share most parts joins the shared ones once and passes that text as one part: the key is the same."""
    return "|".join("" if p is None else str(p) for p in parts)


def posting_date_for_bucket(start: datetime, end: datetime, timezone: str) -> date:
    """The entity-local day a provider bucket belongs to.

    A daily UTC bucket straddles two local days almost everywhere. It is dated by the local day that
    holds its midpoint, so 2026-10-01T00:00Z–2026-10-02T00:00Z is 1 October in New York and in Tokyo
    alike (it never slips into the previous month for offsets under 12 hours).
    """
    midpoint = start + (end - start) / 2
    return midpoint.astimezone(ZoneInfo(timezone)).date()


def utc_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def total_by_currency(facts: Iterable[Fact]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for f in facts:
        totals[f.currency] = totals.get(f.currency, Decimal(0)) + f.amount
    return totals
