"""The figures finance teams track for AI, computed from the books and the facts (pure).

- spend by month and category: what the books hold for provider cost (accrued, capitalized, drawn from
  prepaid credits, trued up to the invoice), and credits that expired unused; beside it what the ledger
  holds each month by posting date, the difference explained journal by journal (a correction moved out of
  a locked month, the reversal of a month-end accrual, a journal not in the ledger yet), so a controller
  ties the report to the trial balance;
- cost per project, team or feature: the classified facts, grouped by any dimension or tag;
- average cost per 1,000 tokens by model: billed cost ÷ tokens from the provider's usage (cost is the
  truth; usage only says what it bought);
- breakage: the rate actually realized on expired grants against the rate the policy expects;
- gross margin on AI usage: revenue from credits sold (recognized and breakage) against AI COGS.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from connector.domain.desired import COST_KINDS
from connector.domain.journals import KIND_LABELS, Bucket, JournalKind
from connector.domain.mapping import Allocation, fact_values
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period, months_through
from connector.domain.revenue import grant_states, position_on, sold_net
from connector.domain.usage import Usage

SPEND_KINDS = (*COST_KINDS, JournalKind.TRUE_UP)
EXPIRED_CREDITS, PROMOTIONAL_CREDITS = "Expired credits", "Promotional credits"  # spend report categories
# Tokens a model processed: OpenAI counts cached input inside input_tokens; Anthropic reports each part.
TOKEN_METRICS = (
    "input_tokens",
    "output_tokens",
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
)
THOUSAND = Decimal(1000)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a report: its keys (month, category, model …) and its figures."""

    keys: tuple[str, ...]
    figures: tuple[Decimal | None, ...]


@dataclass(frozen=True, slots=True)
class PostedLine:
    """What one journal books on one posting bucket (its contribution), with the journal: the bucket's day
    says which month the amount belongs to, the journal's date which month of the ledger holds it."""

    bucket: Bucket
    amount: Decimal  # in the books' currency, + debit / − credit on the bucket's account
    key: str
    kind: JournalKind  # the journal's (a reclass books usage buckets)
    txn_date: date
    status: str  # posted, or on its way (planned, held, posting, failed)


@dataclass(frozen=True, slots=True)
class LedgerDifference:
    """One journal's part in the gap between a month's spend and what the ledger holds that month."""

    key: str
    amount: Decimal  # what the ledger's month holds beyond (+) or short of (−) the spend of the month
    why: str


@dataclass(frozen=True, slots=True)
class LedgerTie:
    """A month's spend (the amounts that belong to it) tied to what the ledger holds for it by posting date:
    spend + Σ differences = ledger, line by line."""

    month: str
    currency: str
    spend: Decimal
    ledger: Decimal
    differences: tuple[LedgerDifference, ...]


def _spend_label(bucket: Bucket, labels: Mapping[str, str]) -> str | None:
    """The report's category of a bucket that books spend (None for the rest: revenue, amortization …).
    A month-end reversal books the accounts it reverses too (a category's, the promotional credits'), but in
    the ledger only: it undoes an accrual."""
    if bucket.kind is JournalKind.EXPIRY_WRITE_OFF:
        return EXPIRED_CREDITS
    if bucket.kind is JournalKind.PROMOTIONAL_CREDIT:
        return PROMOTIONAL_CREDITS  # free credit that paid for usage: it reduces the spend
    if bucket.kind in (*SPEND_KINDS, JournalKind.REVERSAL):
        return labels.get(bucket.target.account, bucket.target.account)
    return None


def _why(line: PostedLine, month: Period, belongs_to: Period | None, held_in: Period | None) -> str:
    """In plain words, why `line` makes the ledger's `month` differ from the month's spend."""
    what = f"{line.key} ({KIND_LABELS[line.kind]}, {line.txn_date})"
    if line.bucket.kind is JournalKind.REVERSAL:
        reversed_month = Period.of(line.bucket.period - timedelta(days=1))
        return (
            f"{what} reverses the month-end accrual of {reversed_month}: in the ledger, not spend of {month}"
        )
    if held_in is None:
        return f"{what} is {line.status}, not in the ledger yet: spend of {month} the ledger does not hold"
    if month == belongs_to:
        return f"{what} belongs to {month} but was moved to {line.txn_date}: {month} was locked in the ledger"
    return f"{what} belongs to {belongs_to}, locked in the ledger: moved into {month}"


def spend_and_ledger(
    lines: Iterable[PostedLine], labels: Mapping[str, str], first: Period, last: Period
) -> tuple[list[Row], list[LedgerTie]]:
    """Rows (month, category, currency) → spend that belongs to the month, and what the ledger holds for the
    category that month (journals posted, by their date); and each month's tie of the two, explained.

    Spend is provider cost booked (accrued, capitalized, drawn from prepaid credits, trued up to the
    invoice), credits that expired unused, and promotional credit applied (negative). `labels` names a
    ledger account by its role (account → "AI COGS", "R&D", "Promotional credits" …)."""
    spend: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    ledger: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    differences: dict[tuple[str, str], dict[tuple[str, str], Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    for line in lines:
        label = _spend_label(line.bucket, labels)
        if label is None:
            continue
        belongs_to = None if line.bucket.kind is JournalKind.REVERSAL else Period.of(line.bucket.period)
        held_in = Period.of(line.txn_date) if line.status == "posted" else None
        if belongs_to is not None:
            spend[(str(belongs_to), label, line.bucket.currency)] += line.amount
        if held_in is not None:
            ledger[(str(held_in), label, line.bucket.currency)] += line.amount
        if belongs_to == held_in:
            continue
        for side, sign in ((belongs_to, -1), (held_in, 1)):
            if side is not None:
                why = _why(line, side, belongs_to, held_in)
                differences[(str(side), line.bucket.currency)][(line.key, why)] += sign * line.amount
    months = {str(p) for p in months_through(first, last)}
    keys = sorted(
        k for k in spend.keys() | ledger.keys() if k[0] in months and (spend.get(k) or ledger.get(k))
    )
    rows = [
        Row(k, (spend.get(k) or quantize(ZERO, k[2]), ledger.get(k) or quantize(ZERO, k[2]))) for k in keys
    ]
    ties = []
    for month, currency in sorted({(k[0], k[2]) for k in keys} | {k for k in differences if k[0] in months}):
        explained = tuple(
            LedgerDifference(key, amount, why)
            for (key, why), amount in sorted(differences[(month, currency)].items())
            if amount
        )
        ties.append(
            LedgerTie(
                month,
                currency,
                sum((a for k, a in spend.items() if (k[0], k[2]) == (month, currency)), ZERO),
                sum((a for k, a in ledger.items() if (k[0], k[2]) == (month, currency)), ZERO),
                explained,
            )
        )
    return rows, ties


def cost_by(allocations: Iterable[Allocation], dimension: str) -> list[Row]:
    """(month, value of `dimension`, currency) → cost; `dimension` is any fact field, dimension or tag:<name>."""
    totals: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for a in allocations:
        value = a.category.value if dimension == "category" else fact_values(a.fact).get(dimension)
        key = (str(Period.of(a.fact.posting_date)), value or "(none)", a.fact.currency)
        totals[key] += a.amount
    return [Row(key, (amount,)) for key, amount in sorted(totals.items())]


def model_of_cost(allocation: Allocation) -> str | None:
    """The model a cost is for: its `model` dimension, or the model an OpenAI line item names."""
    dims = allocation.fact.dimensions
    model = dims.get("model")
    if model:
        return model
    line_item = dims.get("line_item")
    return line_item.split(",")[0].strip() if line_item else None


def cost_per_thousand_tokens(allocations: Iterable[Allocation], usage: Iterable[Usage]) -> list[Row]:
    """(model, currency) → cost, tokens, cost per 1,000 tokens (None where no tokens are known)."""
    cost: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for a in allocations:
        model = model_of_cost(a)
        if model:
            cost[(model, a.fact.currency)] += a.amount
    tokens: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for u in usage:
        model = u.dimensions.get("model")
        if model:
            tokens[model] += sum((u.metric(name) for name in TOKEN_METRICS), ZERO)
    rows = []
    for (model, currency), amount in sorted(cost.items()):
        count = tokens.get(model, ZERO)
        per_k = (amount * THOUSAND / count).quantize(Decimal("0.000001")) if count else None
        rows.append(Row((model, currency), (amount, count, per_k)))
    return rows


def gross_margin(posted: Mapping[Bucket, Decimal], cogs_accounts: set[str]) -> list[Row]:
    """(month, currency) → revenue from credits sold, AI COGS, margin and margin %. Revenue is known once
    credits are sold in a currency: from then every month with revenue or AI COGS in it is a row (a month of
    COGS without redemptions is a month of negative margin, and leaving it out overstated a year's margin);
    a currency with no revenue in the range has none (no credits sold: no revenue known to set COGS against)."""
    revenue: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    cogs: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for bucket, amount in posted.items():
        key = (str(Period.of(bucket.period)), bucket.currency)
        if bucket.kind in (JournalKind.REVENUE, JournalKind.BREAKAGE):
            revenue[key] -= amount  # revenue buckets are credits
        elif bucket.target.account in cogs_accounts and bucket.kind is not JournalKind.REVERSAL:
            cogs[key] += amount
    selling = {currency for _, currency in revenue}
    rows = []
    for key in sorted(revenue.keys() | {k for k in cogs if k[1] in selling}):
        none = quantize(ZERO, key[1])  # a month without revenue shows 0.00, not 0
        income, cost = revenue.get(key, none), cogs.get(key, none)
        percent = ((income - cost) * 100 / income).quantize(Decimal("0.01")) if income else None
        rows.append(Row(key, (income, cost, income - cost, percent)))
    return rows


def breakage_rates(inputs, day) -> list[Row]:
    """(product, currency) → sold, redeemed, breakage recognized, the rate realized on expired grants,
    and the rate the policy expects on `day` (`inputs` is a BooksInput whose as_of is `day`)."""
    figures: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for state in grant_states(inputs):
        grant = state.grant
        if grant.sold_on > day:
            continue
        pos = position_on(inputs, state, day)
        # net of refunds: a refunded credit is neither redeemed nor broken (the realized rate on a grant
        # partly refunded read low against the gross amount)
        sold = sold_net(inputs, grant, day)
        f = figures[(grant.product or "credits", grant.currency)]
        f["sold"] += sold
        f["redeemed"] += pos.redeemed
        f["breakage"] += pos.breakage
        if pos.expired:
            f["expired_sold"] += sold
            f["expired_breakage"] += pos.breakage
    rows = []
    for (product, currency), f in sorted(figures.items()):
        realized = (
            (f["expired_breakage"] * 100 / f["expired_sold"]).quantize(Decimal("0.01"))
            if f["expired_sold"]
            else None
        )
        expected = inputs.policies.in_force(inputs.entity, day).breakage_rate(product) * 100
        rows.append(Row((product, currency), (f["sold"], f["redeemed"], f["breakage"], realized, expected)))
    return rows
