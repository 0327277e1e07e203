"""Aggregating checked FOCUS rows: daily fact buckets, credit lots from purchases, invoice totals.

Rows are summed exactly per bucket — the row's checked static columns (billing account, billing period,
correction or not, charge category, currency, dimensions, tags, invoice) × its UTC charge day — and each
bucket becomes one fact whose natural key is the bucket's identity, so importing the same export again
restates instead of doubling. Purchases become credit lots; InvoiceId totals become invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from connector.domain.credits import CreditLot, default_expiry
from connector.domain.facts import (
    ChargeCategory,
    CostBasis,
    Dimensions,
    Fact,
    natural_key,
    posting_date_for_bucket,
    utc_day_bounds,
)
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.money import ZERO
from connector.domain.periods import Period

PURCHASE = ChargeCategory.PURCHASE


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: one object per distinct raw combination
class StaticPart:
    """The checked values of the columns that repeat across one bucket's rows."""

    category: ChargeCategory
    currency: str
    account: str
    provider: str
    period: str | None  # YYYY-MM of BillingPeriodStart; None: the charge day's month
    correction: bool
    tags: tuple[tuple[str, str | None], ...]
    invoice: str | None
    lot_hint: str | None  # CommitmentDiscountId, SkuPriceId or SkuId: names a purchase
    dims: tuple[str | None, ...]  # clean dimension values, in the order of the file's dimension columns
    skip: bool = False  # a service outside the import's filter

    def identity(self, day: date) -> tuple:
        """What makes a bucket a bucket (raw spellings that clean to the same values are one)."""
        period = self.period or day.strftime("%Y-%m")
        return (
            self.provider,
            self.account,
            period,
            self.correction,
            self.category,
            day,
            self.currency,
            self.dims,
            self.tags,
            self.invoice,
        )


class FocusAggregate:
    def __init__(self, entity: str, timezone: str, source: str) -> None:
        self.entity, self.timezone, self.source = entity, timezone, source
        self.dim_names: tuple[str, ...] = ()
        self.buckets: dict[
            tuple[StaticPart, date], list
        ] = {}  # → [amount, quantity or None, every row had one]
        self.purchases: dict[tuple, list] = {}  # (provider, account, lot id) → [amount, part, start, end]

    def purchase(self, part: StaticPart, start: datetime, end: datetime | None, amount: Decimal) -> None:
        span = start.strftime("%Y-%m-%dT%H:%M:%SZ") + (
            f"..{end.strftime('%Y-%m-%dT%H:%M:%SZ')}" if end else ""
        )
        key = (
            part.provider,
            part.account,
            f"{part.lot_hint or 'purchase'}@{span}",
        )  # one lot per id and period
        entry = self.purchases.setdefault(key, [ZERO, part, start, end])
        entry[0] += amount

    def amounts_by_currency(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for (part, _), (amount, _, _) in self.buckets.items():
            totals[part.currency] = totals.get(part.currency, ZERO) + amount
        for amount, part, _, _ in self.purchases.values():
            totals[part.currency] = totals.get(part.currency, ZERO) + amount
        return totals

    def merged(self) -> dict[tuple, list]:
        merged: dict[tuple, list] = {}
        for (part, day), (amount, quantity, complete) in self.buckets.items():
            key = part.identity(day)
            if key not in merged:
                merged[key] = [amount, quantity, complete]
                continue
            bucket = merged[key]
            both = bucket[2] and complete
            bucket[0] += amount
            bucket[1], bucket[2] = (bucket[1] + quantity if both else None), both
        return merged

    # --------------------------------------------------------------------------------------- results

    def facts(self) -> list[Fact]:
        facts = []
        posting_days: dict[date, date] = {}
        dimensions: dict[tuple, tuple[Dimensions, str | None]] = {}  # one per stream, shared by its days
        for key, (amount, quantity, complete) in self.merged().items():
            provider, account, period, correction, category, day, currency, dims, tags, invoice = key
            if day not in posting_days:
                posting_days[day] = posting_date_for_bucket(*utc_day_bounds(day), self.timezone)
            stream = (period, correction, dims, tags, invoice)
            if stream not in dimensions:
                dimensions[stream] = self._dimensions(*stream)
            named, unit = dimensions[stream]
            facts.append(
                Fact(
                    entity=self.entity,
                    provider=provider,
                    provider_account=account,
                    charge_date=day,
                    posting_date=posting_days[day],
                    amount=amount,
                    currency=currency,
                    natural_key=natural_key(provider, account, "focus", *key[2:8], *tags, invoice),
                    dimensions=named,
                    cost_basis=CostBasis.BILLED,
                    charge_category=category,
                    quantity=quantity if complete else None,
                    unit=unit,
                    source=f"{self.source}/{period}",
                )
            )
        return facts

    def _dimensions(self, period, correction, dims, tags, invoice) -> tuple[Dimensions, str | None]:
        named = dict(zip(self.dim_names, dims, strict=True))
        unit = named.pop("unit", None)
        named.update({f"tag:{k}": v for k, v in tags})
        named.update(
            billing_period=period, charge_class="correction" if correction else None, invoice=invoice
        )
        return Dimensions.of(named), unit

    def lots(self) -> list[CreditLot]:
        lots = []
        for (provider, account, lot_id), (amount, part, start, end) in self.purchases.items():
            if amount <= 0:
                continue  # nothing prepaid (a third-party purchase at 0, or a refunded one): no lot
            bought: date = start.date()
            term_end = end.date() if end is not None and end - start > timedelta(days=1) else None
            description = dict(zip(self.dim_names, part.dims, strict=True)).get("line_item") or ""
            lots.append(
                CreditLot(
                    entity=self.entity,
                    provider=provider,
                    provider_account=account,
                    lot_id=lot_id,
                    purchase_date=bought,
                    amount=amount,
                    currency=part.currency,
                    expires_on=term_end or default_expiry(provider, bought),
                    description=description,
                    source=self.source,
                )
            )
        return lots

    def invoices(self) -> list[Invoice]:
        """Σ BilledCost per InvoiceId (and charge category, as the invoice's lines) of the imported rows."""
        sums: dict[tuple, dict[str, Decimal]] = {}

        def add(part: StaticPart, day: date, amount: Decimal) -> None:
            key = (
                part.provider,
                part.account,
                part.invoice,
                part.currency,
                part.period or day.strftime("%Y-%m"),
            )
            kinds = sums.setdefault(key, {})
            kinds[part.category.value] = kinds.get(part.category.value, ZERO) + amount

        for (part, day), (amount, _, _) in self.buckets.items():
            if part.invoice:
                add(part, day, amount)
        for amount, part, start, _ in self.purchases.values():
            if part.invoice:
                add(part, start.date(), amount)
        invoices = []
        for (provider, account, number, currency, period), kinds in sums.items():
            lines = tuple(
                InvoiceLine(f"FOCUS {kind} charges", amount, kind) for kind, amount in sorted(kinds.items())
            )
            invoices.append(
                Invoice(
                    entity=self.entity,
                    provider=provider,
                    provider_account=account,
                    number=number,
                    period=period,
                    issue_date=Period.parse(period).last_day + timedelta(days=1),  # FOCUS has no invoice date
                    total=sum((ln.amount for ln in lines), ZERO),
                    currency=currency,
                    lines=lines,
                    source=self.source,
                )
            )
        return invoices
