"""FOCUS rows → buckets → facts, credit lots and invoice totals, in two steps with a seam between them.

**Step 1, rows → buckets** (`FocusAggregate`, fed by the reader's hot loop): every accepted row is added,
exactly, to one bucket. A bucket is what a `GROUP BY` over the export gives — a warehouse can compute the
same buckets (docs/focus.md lists the columns) and hand them to step 2:

| `BucketKey` field | from | note |
|---|---|---|
| `provider`, `account` | ProviderName (or `--provider`), BillingAccountId (or `--account`) | |
| `billing_period` | BillingPeriodStart, as YYYY-MM | None without the column |
| `correction` | ChargeClass = Correction | |
| `category` | ChargeCategory | |
| `currency` | BillingCurrency (or `--currency`) | |
| `dims` | the dimension columns present (`DIMENSION_COLUMNS` in `focus.py`), in that order | nulls as None |
| `tags` | Tags, as sorted (key, value) pairs | |
| `invoice` | InvoiceId | |
| `commitment` | CommitmentDiscountId | |
| `frequency` | ChargeFrequency, lower-case | |
| `sku_price` | SkuPriceId, else SkuId | names a purchase |
| `virtual` | PricingCurrency when it is a virtual currency (not ISO 4217) | |
| `day` | the UTC day of ChargePeriodStart — when the charge period is at most a day and the row is not a Purchase | |
| `start`, `end` | ChargePeriodStart and ChargePeriodEnd — otherwise (a Purchase, or a charge period longer than a day) | |

and `BucketSums` holds Σ BilledCost, Σ of the negative BilledCost, Σ EffectiveCost (BilledCost where the
export has no EffectiveCost), Σ ConsumedQuantity, how many rows had a quantity, and how many rows.

**Step 2, buckets → books** (`book_buckets`, pure): what each bucket becomes (docs/focus.md, with each
case's journal):

- Usage, Credit, Tax, Adjustment: facts. A charge period longer than a day is spread over its UTC days in
  proportion to the time in each (largest remainder, at the amount's own precision). Usage the provider
  says a purchase paid for — it names a CommitmentDiscountId, or is priced in a virtual currency — is
  booked at its EffectiveCost: BilledCost as billed (accrued), EffectiveCost − BilledCost as a fact in
  that purchase's **prepaid pool** (`prepaid_pool` dimension), which the planner draws from its lots.
- Purchase: a **credit lot** in the pool of the commitment or virtual currency it buys (a term: expiring
  at ChargePeriodEnd), drawn by that usage; a negative purchase is a **refund lot** of it. A recurring
  fee whose charge period is at most a day (AWS hourly commitment fees) is consumed by the same day's
  usage: it is no lot, its money is the accrued part of that usage (and what the usage did not use is an
  accrued fact of its own). A purchase naming no commitment but covering a term (a SaaS subscription) is
  a lot in a pool of its own, amortized straight line over its term by facts drawn from it. Any other
  purchase is a lot of the account's general credits (drawn under a prepaid policy).
- InvoiceId: Σ BilledCost per invoice, one line per kind (usage, purchase, credit, tax, adjustment).

Every accepted BilledCost is stored exactly once: in a fact that is not prepaid-pool, or in a lot
(`FocusBooks.stored_money` is checked against the tally).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from operator import itemgetter

from connector.domain.credits import CreditLot, default_expiry
from connector.domain.errors import InvariantViolation
from connector.domain.facts import (
    PREPAID_POOL,
    ChargeCategory,
    CostBasis,
    Dimensions,
    Fact,
    key_text,
    natural_key,
    posting_date_for_bucket,
    utc_day_bounds,
)
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.money import ZERO, allocate, quantize, split_quantum
from connector.domain.periods import Period

PURCHASE, USAGE = ChargeCategory.PURCHASE, ChargeCategory.USAGE
DAY = timedelta(days=1)
RECURRING = "recurring"
GENERAL_POOL = ""  # an account's general credits: drawn under a prepaid policy, FIFO by expiry


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
    dims: tuple[str | None, ...]  # clean dimension values, in the order of the file's dimension columns
    commitment: str | None = None  # CommitmentDiscountId
    frequency: str | None = None  # ChargeFrequency, lower-case
    sku_price: str | None = None  # SkuPriceId, else SkuId
    virtual: str | None = None  # PricingCurrency, when a virtual currency
    skip: bool = False  # a service outside the import's filter

    def key(self, when: date | tuple[datetime, datetime | None]) -> BucketKey:
        """The bucket of a row of this part charged `when`: its UTC day, or its (start, end)."""
        day, start, end = (when, None, None) if isinstance(when, date) else (None, *when)
        return BucketKey(
            self.provider,
            self.account,
            self.period,
            self.correction,
            self.category,
            self.currency,
            self.dims,
            self.tags,
            self.invoice,
            self.commitment,
            self.frequency,
            self.sku_price,
            self.virtual,
            day,
            start,
            end,
        )


@dataclass(frozen=True, slots=True)
class BucketKey:
    """The identity of a bucket: the grouping columns of step 1 (the module docstring lists them)."""

    provider: str
    account: str
    billing_period: str | None
    correction: bool
    category: ChargeCategory
    currency: str
    dims: tuple[str | None, ...]
    tags: tuple[tuple[str, str | None], ...]
    invoice: str | None
    commitment: str | None
    frequency: str | None
    sku_price: str | None
    virtual: str | None
    day: date | None  # the charge day, when the charge period fits in a day (not a purchase)
    start: datetime | None  # else the charge period
    end: datetime | None

    @property
    def first_day(self) -> date:
        return self.day or self.start.date()  # type: ignore[union-attr]

    @property
    def pool(self) -> str:
        """The prepaid pool the provider says pays for this charge: its commitment, else its virtual currency."""
        if self.commitment:
            return f"commitment:{self.commitment}"
        return f"virtual:{self.virtual}" if self.virtual else GENERAL_POOL

    def spans_days(self) -> bool:
        return self.start is not None and self.end is not None and self.end - self.start > DAY


@dataclass(slots=True)
class BucketSums:
    """What step 1 sums per bucket."""

    billed: Decimal = ZERO
    billed_negative: Decimal = ZERO  # Σ of the negative BilledCost (refunds of a purchase)
    effective: Decimal = ZERO
    quantity: Decimal = ZERO
    quantity_rows: int = 0
    rows: int = 0

    def add(self, other: BucketSums) -> None:
        self.billed += other.billed
        self.billed_negative += other.billed_negative
        self.effective += other.effective
        self.quantity += other.quantity
        self.quantity_rows += other.quantity_rows
        self.rows += other.rows

    @property
    def quantity_complete(self) -> bool:
        return self.quantity_rows == self.rows


class FocusAggregate:
    """Step 1: the buckets of one import, summed as the reader's hot loop adds rows."""

    def __init__(self) -> None:
        self.dim_names: tuple[str, ...] = ()
        # (part, when) → [billed, negative billed, effective, quantity, rows with a quantity, rows]; the
        # reader updates the lists in place (the hot loop), `buckets()` merges parts of one identity
        self.sums: dict[tuple[StaticPart, object], list] = {}
        self.account_currency: dict[tuple[str, str], tuple[str, str]] = {}  # account → (currency, where)

    def amounts_by_currency(self) -> dict[str, Decimal]:
        """Σ BilledCost per currency of every accepted row (the tally's accepted amounts)."""
        totals: dict[str, Decimal] = {}
        for (part, _), sums in self.sums.items():
            totals[part.currency] = totals.get(part.currency, ZERO) + sums[0]
        return totals

    def buckets(self) -> dict[BucketKey, BucketSums]:
        merged: dict[BucketKey, BucketSums] = {}
        for (part, when), (billed, negative, effective, quantity, with_quantity, rows) in self.sums.items():
            sums = BucketSums(billed, negative, effective, quantity, with_quantity, rows)
            kept = merged.setdefault(part.key(when), sums)  # type: ignore[arg-type]
            if kept is not sums:  # another raw combination checked into the same bucket
                kept.add(sums)
        return merged


# ----------------------------------------------------------------------------------- step 2: the books


@dataclass
class FocusBooks:
    facts: list[Fact] = field(default_factory=list)
    lots: list[CreditLot] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)

    def stored_money(self) -> dict[str, Decimal]:
        """Billed money per currency as stored: facts outside a prepaid pool (a pool's facts are drawn from
        its lots, not new money) and lots (refunds included)."""
        totals: dict[str, Decimal] = {}
        for fact in self.facts:
            if not fact.dimensions.get(PREPAID_POOL):
                totals[fact.currency] = totals.get(fact.currency, ZERO) + fact.amount
        for lot in self.lots:
            totals[lot.currency] = totals.get(lot.currency, ZERO) + lot.amount
        return totals


FactKey = (
    tuple  # (provider, account, billing period, correction, category, day, currency, dims, tags, invoice)
)


@dataclass
class _Piece:
    """The money of one fact being built: accrued (pool "") or drawn from a prepaid pool."""

    amount: Decimal = ZERO
    quantity: Decimal | None = None
    complete: bool = True

    def add(self, amount: Decimal, quantity: Decimal | None, complete: bool) -> None:
        self.amount += amount
        if quantity is not None:
            self.quantity = (self.quantity or ZERO) + quantity
        self.complete = self.complete and complete


def book_buckets(
    buckets: Mapping[BucketKey, BucketSums],
    dim_names: tuple[str, ...],
    *,
    entity: str,
    timezone: str,
    source: str,
) -> FocusBooks:
    """Step 2: the facts, lots and invoice totals of an import's buckets (the module docstring says how)."""
    booker = _Booker(dim_names, entity, timezone, source)
    for key, sums in in_repr_order(buckets):
        if key.category is PURCHASE:
            booker.purchase(key, sums)
        else:
            booker.charge(key, sums)
    booker.fund_with_fees()
    return FocusBooks(booker.facts(), booker.lots, _invoices(buckets, booker.fee_keys, entity, source))


def in_repr_order(buckets: Mapping[BucketKey, BucketSums]) -> list[tuple[BucketKey, BucketSums]]:
    """The buckets sorted by their repr, so that both readers book alike whatever order their rows or
    groups came in. A repr is written from two cached parts instead of whole: what a bucket's columns give
    (shared by a stream's buckets of every day) and its day or charge period (shared by that day's buckets);
    `repr(key)` is exactly their concatenation (tests/sources/test_focus.py checks it)."""
    heads: dict[tuple, str] = {}
    tails: dict[tuple, str] = {}
    ordered = []
    for item in buckets.items():
        key = item[0]
        columns = (
            key.provider,
            key.account,
            key.billing_period,
            key.correction,
            key.category,
            key.currency,
            key.dims,
            key.tags,
            key.invoice,
            key.commitment,
            key.frequency,
            key.sku_price,
            key.virtual,
        )
        head = heads.get(columns)
        if head is None:
            head = heads[columns] = repr(replace(key, day=None, start=None, end=None))[: -len(_NO_WHEN)]
        when = (key.day, key.start, key.end)
        tail = tails.get(when)
        if tail is None:
            tail = tails[when] = f", day={key.day!r}, start={key.start!r}, end={key.end!r})"
        ordered.append((head + tail, item))
    ordered.sort(key=itemgetter(0))
    return [item for _, item in ordered]


_NO_WHEN = ", day=None, start=None, end=None)"  # the end of the repr of a key without its day or period


class _Booker:
    def __init__(self, dim_names: tuple[str, ...], entity: str, timezone: str, source: str) -> None:
        self.dim_names, self.entity, self.timezone, self.source = dim_names, entity, timezone, source
        self.pieces: dict[tuple[FactKey, str], _Piece] = {}  # (fact identity, pool) → its money
        self.fees: dict[tuple, list] = {}  # (provider, account, currency, pool, day) → [Σ fee, a fee bucket]
        self.fee_keys: set[BucketKey] = set()
        self.lots: list[CreditLot] = []

    # ---------------------------------------------------------------------------------------- charges

    def charge(self, key: BucketKey, sums: BucketSums) -> None:
        """Usage, credit, tax or adjustment: billed money accrued, the prepaid part drawn from its pool."""
        pool = key.pool if key.category is USAGE else GENERAL_POOL
        prepaid = sums.effective - sums.billed if pool else ZERO
        quantity = sums.quantity if sums.quantity_rows else None
        for day, billed, drawn, qty in _by_day(key, sums.billed, prepaid, quantity):
            identity = _fact_key(key, day)
            if drawn:
                self._piece(identity, pool).add(drawn, qty, sums.quantity_complete)
            if billed or not drawn:
                self._piece(identity, GENERAL_POOL).add(
                    billed, None if drawn else qty, sums.quantity_complete
                )

    def _piece(self, identity: FactKey, pool: str) -> _Piece:
        return self.pieces.setdefault((identity, pool), _Piece())

    # -------------------------------------------------------------------------------------- purchases

    def purchase(self, key: BucketKey, sums: BucketSums) -> None:
        pool = key.pool
        if pool and key.frequency == RECURRING and not key.spans_days():
            # an hourly (or daily) commitment fee: consumed by the same day's usage, not a lot
            entry = self.fees.setdefault(
                (key.provider, key.account, key.currency, pool, key.first_day), [ZERO, key]
            )
            entry[0] += sums.billed
            self.fee_keys.add(key)
            return
        lot_id = _lot_id(key, self.dim_names)
        if not pool and key.spans_days():
            pool = f"purchase:{lot_id}"  # a subscription's term: amortized straight line, drawn from the lot
            usage = replace(key, category=USAGE)
            for day, _, drawn, _ in _by_day(key, ZERO, sums.billed, None):
                if drawn:
                    self._piece(_fact_key(usage, day), pool).add(drawn, None, False)
        bought = sums.billed - sums.billed_negative
        if bought > 0:
            self.lots.append(self._lot(key, lot_id, bought, pool))
        if sums.billed_negative:
            refund_id = f"{lot_id}~refund@{key.billing_period or key.first_day.strftime('%Y-%m')}"
            self.lots.append(self._lot(key, refund_id, sums.billed_negative, pool, refund_of=lot_id))

    def _lot(self, key: BucketKey, lot_id: str, amount: Decimal, pool: str, refund_of: str = "") -> CreditLot:
        bought = key.first_day
        term_end = key.end.date() if key.spans_days() else None  # type: ignore[union-attr]
        return CreditLot(
            entity=self.entity,
            provider=key.provider,
            provider_account=key.account,
            lot_id=lot_id,
            purchase_date=bought,
            amount=amount,
            currency=key.currency,
            expires_on=term_end or default_expiry(key.provider, bought),
            description=dict(zip(self.dim_names, key.dims, strict=True)).get("line_item") or "",
            source=self.source,
            pool=pool,
            refund_of=refund_of,
        )

    def fund_with_fees(self) -> None:
        """A day's recurring commitment fee pays first for the usage of that commitment that day: that part
        is accrued (the fee is billed), the rest is drawn from the commitment's lots; a fee the usage did not
        use up is accrued as usage of its own (the unused commitment)."""
        for (provider, account, currency, pool, day), (fee, fee_key) in sorted(
            self.fees.items(), key=lambda item: item[0]
        ):
            drawn = [
                (identity, piece)
                for (identity, piece_pool), piece in self.pieces.items()
                if piece_pool == pool
                and identity[5] == day
                and identity[:2] == (provider, account)
                and identity[6] == currency
                and piece.amount > 0
            ]
            used = min(fee, sum((p.amount for _, p in drawn), ZERO)) if fee > 0 else ZERO
            if used:
                unit = min(split_quantum(v, currency) for v in (used, *(p.amount for _, p in drawn)))
                for (identity, piece), share in zip(
                    drawn, allocate(used, [p.amount for _, p in drawn], unit), strict=True
                ):
                    piece.amount -= share
                    self._piece(identity, GENERAL_POOL).add(share, None, piece.complete)
            if fee - used:
                self._piece(_fact_key(replace(fee_key, category=USAGE), day), GENERAL_POOL).add(
                    fee - used, None, False
                )

    # ------------------------------------------------------------------------------------------ facts

    def facts(self) -> list[Fact]:
        facts = []
        posting_days: dict[date, date] = {}
        # what a fact's identity gives but its day (its dimensions, unit, most of its natural key), made
        # once per stream: each is shared by the stream's facts of every day
        shared: dict[tuple, tuple[Dimensions, str | None, str, str, str]] = {}
        for (identity, pool), piece in self.pieces.items():
            provider, account, _, _, category, day, currency, *_ = identity
            if day not in posting_days:
                posting_days[day] = posting_date_for_bucket(*utc_day_bounds(day), self.timezone)
            stream = (*identity[:5], *identity[6:], pool)
            made = shared.get(stream)
            if made is None:
                made = shared[stream] = self._shared(identity, pool)
            dimensions, unit, before_day, after_day, source = made
            facts.append(
                Fact(
                    entity=self.entity,
                    provider=provider,
                    provider_account=account,
                    charge_date=day,
                    posting_date=posting_days[day],
                    amount=piece.amount,
                    currency=currency,
                    natural_key=natural_key(provider, account, before_day, day, after_day),
                    dimensions=dimensions,
                    cost_basis=CostBasis.BILLED,
                    charge_category=category,
                    quantity=piece.quantity if piece.complete else None,
                    unit=unit,
                    source=source,
                )
            )
        return facts

    def _shared(self, identity: FactKey, pool: str) -> tuple[Dimensions, str | None, str, str, str]:
        """A fact's dimensions, unit, the parts of its natural key before and after its day, and its source."""
        _, _, period, correction, category, _, currency, dims, tags, invoice = identity
        named = dict(zip(self.dim_names, dims, strict=True))
        unit = named.pop("unit", None)
        named.update({f"tag:{k}": v for k, v in tags})
        named.update(
            billing_period=period, charge_class="correction" if correction else None, invoice=invoice
        )
        if pool:
            named[PREPAID_POOL] = pool
        before_day = key_text("focus", period, correction, category)
        after_day = key_text(currency, dims, *tags, invoice, *((PREPAID_POOL, pool) if pool else ()))
        return Dimensions.of(named), unit, before_day, after_day, f"{self.source}/{period}"


def _fact_key(key: BucketKey, day: date) -> FactKey:
    period = key.billing_period or day.strftime("%Y-%m")
    return (
        key.provider,
        key.account,
        period,
        key.correction,
        key.category,
        day,
        key.currency,
        key.dims,
        key.tags,
        key.invoice,
    )


def _by_day(
    key: BucketKey, billed: Decimal, prepaid: Decimal, quantity: Decimal | None
) -> Iterable[tuple[date, Decimal, Decimal, Decimal | None]]:
    """A bucket's amounts per UTC day: its one day, or spread over the days of its charge period in
    proportion to the time in each (accrual basis: a cost belongs to the days it was incurred)."""
    if not key.spans_days():
        return ((key.first_day, billed, prepaid, quantity),)
    days, weights = _days(key.start, key.end)  # type: ignore[arg-type]
    billed_shares = _spread(billed, weights, key.currency)
    prepaid_shares = _spread(prepaid, weights, key.currency)
    quantity_shares = [None] * len(days) if quantity is None else _spread(quantity, weights, None)
    return zip(days, billed_shares, prepaid_shares, quantity_shares, strict=True)


def charge_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days a charge period longer than a day is spread over (step 2 books a fact on each)."""
    return _days(start, end)[0]


def _days(start: datetime, end: datetime) -> tuple[list[date], list[Decimal]]:
    """The UTC days a charge period touches, and the seconds of it in each."""
    days, weights = [], []
    day = start.date()
    while True:
        day_start = datetime.combine(day, time(0), tzinfo=start.tzinfo)
        seconds = (min(end, day_start + DAY) - max(start, day_start)).total_seconds()
        if seconds <= 0:
            break
        days.append(day)
        weights.append(Decimal(int(seconds)))
        day += DAY
    return days, weights


def _spread(total: Decimal, weights: list[Decimal], currency: str | None) -> list[Decimal]:
    if not total:
        return [ZERO] * len(weights)
    exponent = total.as_tuple().exponent
    unit = split_quantum(total, currency) if currency else Decimal(1).scaleb(min(0, int(exponent)))
    return allocate(total, weights, unit)


def _lot_id(key: BucketKey, dim_names: tuple[str, ...]) -> str:
    """A purchase's lot id, unique per purchase: what names it (CommitmentDiscountId, else SkuPriceId or
    SkuId), its charge period, and a short hash of what else tells two purchases apart (frequency, price,
    resource, sub account …; not the invoice, billing period or description, so a refund on a later bill
    names the lot it refunds)."""
    span = key.start.strftime("%Y-%m-%dT%H:%M:%SZ") if key.start else key.first_day.isoformat()
    if key.end:
        span += f"..{key.end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    kept = tuple(
        (name, value) for name, value in zip(dim_names, key.dims, strict=True) if name != "line_item"
    )
    identity = repr((key.commitment, key.sku_price, key.frequency, key.virtual, kept, key.tags))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return f"{key.commitment or key.sku_price or 'purchase'}@{span}#{digest}"


# ------------------------------------------------------------------------------------------- invoices

LINE_DESCRIPTIONS = {
    "usage": "FOCUS usage charges",
    "commitment_fee": "FOCUS recurring commitment fees",
    "purchase": "FOCUS purchases (prepaid)",
    "credit": "FOCUS credits",
    "tax": "FOCUS tax",
    "adjustment": "FOCUS adjustments",
}


def _invoices(
    buckets: Mapping[BucketKey, BucketSums], fee_keys: set[BucketKey], entity: str, source: str
) -> list[Invoice]:
    """Σ BilledCost per InvoiceId, one line per kind. A recurring commitment fee consumed the same day is a
    usage line (it is accrued, like usage); other purchases are prepaid (`purchase` lines).

    A bill charges whole minor units: each line is Σ BilledCost at the provider's precision (89.109011)
    rounded once, here, to the currency's, as the provider's bill rounds it; the invoice is its lines'
    sum. What reads an invoice (the true-up, the reconciliation) then never meets a fraction of a cent."""
    sums: dict[tuple, dict[str, Decimal]] = {}
    for key, bucket in buckets.items():
        if not key.invoice:
            continue
        kind = "commitment_fee" if fee_keys and key in fee_keys else key.category.value
        period = key.billing_period or key.first_day.strftime("%Y-%m")
        kinds = sums.setdefault((key.provider, key.account, key.invoice, key.currency, period), {})
        kinds[kind] = kinds.get(kind, ZERO) + bucket.billed
    invoices = []
    for (provider, account, number, currency, period), kinds in sorted(sums.items()):
        lines = tuple(
            InvoiceLine(
                LINE_DESCRIPTIONS[kind],
                quantize(amount, currency),
                "usage" if kind == "commitment_fee" else kind,
            )
            for kind, amount in sorted(kinds.items())
        )
        invoices.append(
            Invoice(
                entity=entity,
                provider=provider,
                provider_account=account,
                number=number,
                period=period,
                issue_date=Period.parse(period).last_day + timedelta(days=1),  # FOCUS has no invoice date
                total=sum((ln.amount for ln in lines), ZERO),
                currency=currency,
                lines=lines,
                source=source,
            )
        )
    return invoices


def check_stored(accepted: Mapping[str, Decimal], books: FocusBooks) -> None:
    """Every accepted BilledCost is stored once, in a fact or a lot (nothing vanishes, nothing doubles)."""
    stored = books.stored_money()
    for currency in set(accepted) | set(stored):
        if accepted.get(currency, ZERO) != stored.get(currency, ZERO):
            raise InvariantViolation(
                f"FOCUS import: {accepted.get(currency, ZERO)} {currency} accepted but "
                f"{stored.get(currency, ZERO)} stored in facts and lots"
            )
