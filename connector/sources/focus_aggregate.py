"""Aggregating checked FOCUS rows: daily fact buckets, credit lots from purchases, invoice totals.

Hourly (or finer) line items are summed exactly per bucket — UTC day × billing account × billing period
× correction or not × charge category × currency × dimensions × tags — and each bucket becomes one fact
whose natural key is the bucket's identity, so importing the same export again restates instead of
doubling. Purchases become credit lots; InvoiceId totals become invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from connector.domain.credits import CreditLot, default_expiry
from connector.domain.facts import (
    ChargeCategory,
    CostBasis,
    Dimensions,
    Fact,
    natural_key,
    posting_date_for_bucket,
)
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.money import ZERO
from connector.domain.periods import Period


@dataclass(slots=True)
class FocusLine:
    """One checked FOCUS row, reduced to what the aggregate needs."""

    category: ChargeCategory
    start: datetime
    end: datetime | None
    amount: Decimal
    currency: str
    account: str
    provider: str
    billing_period: str  # YYYY-MM
    correction: bool
    dims: tuple  # dimension values in the order of the file's dimension columns
    tags: tuple[tuple[str, str | None], ...]
    quantity: Decimal | None
    invoice_id: str | None
    lot_hint: str | None  # CommitmentDiscountId, SkuPriceId or SkuId: names a purchase


class FocusAggregate:
    def __init__(self, entity: str, timezone: str, source: str) -> None:
        self.entity, self.timezone, self.source = entity, timezone, source
        self.dim_names: tuple[str, ...] = ()
        self.buckets: dict[tuple, list] = {}  # key → [amount, quantity or None, has quantity for every row]
        self.purchases: dict[tuple, list] = {}  # (provider, account, lot id) → [amount, currency, start, end]
        self.invoice_sums: dict[tuple, dict[str, Decimal]] = {}  # (provider, account, id, currency, period)

    def add(self, line: FocusLine) -> None:
        if line.invoice_id:
            key = (line.provider, line.account, line.invoice_id, line.currency, line.billing_period)
            kinds = self.invoice_sums.setdefault(key, {})
            kinds[line.category.value] = kinds.get(line.category.value, ZERO) + line.amount
        if line.category is ChargeCategory.PURCHASE:
            self._purchase(line)
            return
        key = (
            line.provider,
            line.account,
            line.billing_period,
            line.correction,
            line.category,
            line.start.date(),
            line.currency,
            line.dims,
            line.tags,
        )
        bucket = self.buckets.get(key)
        if bucket is None:
            self.buckets[key] = [line.amount, line.quantity, line.quantity is not None]
            return
        bucket[0] += line.amount
        if bucket[2] and line.quantity is not None:
            bucket[1] += line.quantity
        else:
            bucket[1], bucket[2] = None, False

    def _purchase(self, line: FocusLine) -> None:
        span = line.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        if line.end is not None:
            span += f"..{line.end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        lot_id = f"{line.lot_hint or 'purchase'}@{span}"  # one lot per purchase id and charge period
        key = (line.provider, line.account, lot_id)
        entry = self.purchases.setdefault(key, [ZERO, line.currency, line.start, line.end, line.dims])
        entry[0] += line.amount

    # --------------------------------------------------------------------------------------- results

    def facts(self) -> list[Fact]:
        facts = []
        for key, (amount, quantity, complete) in self.buckets.items():
            provider, account, period, correction, category, day, currency, dims, tags = key
            named = dict(zip(self.dim_names, dims, strict=True))
            unit = named.pop("unit", None)
            named.update({f"tag:{k}": v for k, v in tags})
            named.update(billing_period=period, charge_class="correction" if correction else None)
            start = datetime.combine(day, time(0), tzinfo=UTC)
            facts.append(
                Fact(
                    entity=self.entity,
                    provider=provider,
                    provider_account=account,
                    charge_date=day,
                    posting_date=posting_date_for_bucket(start, start + timedelta(days=1), self.timezone),
                    amount=amount,
                    currency=currency,
                    natural_key=natural_key(
                        provider,
                        account,
                        "focus",
                        period,
                        correction,
                        category.value,
                        day,
                        currency,
                        *dims,
                        *tags,
                    ),
                    dimensions=Dimensions.of(named),
                    cost_basis=CostBasis.BILLED,
                    charge_category=category,
                    quantity=quantity if complete else None,
                    unit=unit,
                    source=f"{self.source}/{period}",
                )
            )
        return facts

    def lots(self) -> list[CreditLot]:
        lots = []
        for (provider, account, lot_id), (amount, currency, start, end, dims) in self.purchases.items():
            if amount <= 0:
                continue  # nothing prepaid (a third-party purchase at 0, or a refunded one): no lot
            bought: date = start.date()
            term_end = end.date() if end is not None and end - start > timedelta(days=1) else None
            description = dict(zip(self.dim_names, dims, strict=True)).get("line_item") or ""
            lots.append(
                CreditLot(
                    entity=self.entity,
                    provider=provider,
                    provider_account=account,
                    lot_id=lot_id,
                    purchase_date=bought,
                    amount=amount,
                    currency=currency,
                    expires_on=term_end or default_expiry(provider, bought),
                    description=description,
                    source=self.source,
                )
            )
        return lots

    def invoices(self) -> list[Invoice]:
        invoices = []
        for (provider, account, number, currency, period), kinds in self.invoice_sums.items():
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
