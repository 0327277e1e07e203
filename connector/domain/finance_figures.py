"""The figures finance teams track for AI, computed from the books and the facts (pure).

- spend by month and category: what the books hold for provider cost (accrued, capitalized, drawn from
  prepaid credits, trued up to the invoice), and credits that expired unused;
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
from decimal import Decimal

from connector.domain.desired import COST_KINDS
from connector.domain.journals import Bucket, JournalKind
from connector.domain.mapping import Allocation, fact_values
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period
from connector.domain.revenue import grant_states, position_on, sold_net
from connector.domain.usage import Usage

SPEND_KINDS = (*COST_KINDS, JournalKind.TRUE_UP)
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


def spend_by_month(posted: Mapping[Bucket, Decimal], labels: Mapping[str, str]) -> list[Row]:
    """(month, category, currency) → provider cost booked, and (separately) credits expired unused and
    promotional credit applied (negative).

    `labels` names a ledger account by its role (account → "AI COGS", "R&D" …)."""
    spend: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for bucket, amount in posted.items():
        if bucket.kind in SPEND_KINDS:
            label = labels.get(bucket.target.account, bucket.target.account)
        elif bucket.kind is JournalKind.EXPIRY_WRITE_OFF:
            label = "Expired credits"
        elif bucket.kind is JournalKind.PROMOTIONAL_CREDIT:
            label = "Promotional credits"  # free credit that paid for usage: it reduces the spend
        else:
            continue
        spend[(str(Period.of(bucket.period)), label, bucket.currency)] += amount
    return [Row(key, (amount,)) for key, amount in sorted(spend.items()) if amount]


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
