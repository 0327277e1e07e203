"""The FOCUS conservation property: over generated exports with commitments and virtual currency, what
the books hold equals what was billed, per currency, to the cent — and every accepted amount is stored.

Σ expense (accrued) + Σ prepaid consumed + Σ expired = Σ purchases + Σ on-demand usage, per currency,
once every term has ended. The exports mix upfront commitments (used, unused, refunded in part), partial
upfront commitments with hourly fees, hourly fees alone (no upfront), credits bought in a virtual
currency, a subscription paid for a term, usage charged over several days, and on-demand usage; amounts
are in cents, as invoices are, so "to the cent" is exact equality.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.domain.accounting_policy import BUILT_IN, PolicyHistory
from connector.domain.classifier import Classifier
from connector.domain.desired import BooksInput, UsageCosts, desired_books
from connector.domain.journals import JournalKind
from connector.domain.money import ZERO
from connector.sources.focus import FocusOptions, read_focus
from tests.sources.builders import FOCUS_COMMITMENT_COLUMNS, focus_csv, focus_row
from tests.support import FULL_MAPPING, mapping

MAPPING = mapping(FULL_MAPPING + "  - id: bedrock\n    when: {provider: aws}\n    category: cogs\n")
ROLE = lambda role: MAPPING.role_target(role, "quickbooks")  # noqa: E731
HISTORY = PolicyHistory.of([BUILT_IN])
COLUMNS = FOCUS_COMMITMENT_COLUMNS
START = date(2026, 10, 1)
ACCOUNTS = {"USD": "111111111111", "EUR": "222222222222"}
BOOKED = {
    JournalKind.USAGE_ACCRUAL: "expense",
    JournalKind.CAPITALIZATION: "expense",
    JournalKind.PREPAID_CONSUMPTION: "prepaid consumed",
    JournalKind.EXPIRY_WRITE_OFF: "expired",
}


def cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Export:
    """The rows of a generated export, and what they bill per currency."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.billed: dict[str, Decimal] = defaultdict(lambda: ZERO)
        # what the books must show, per currency and figure: the generator knows what each row is
        self.expected: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))

    def purchase(self, currency: str, cost: Decimal, start: datetime, end: datetime, **columns) -> None:
        self.row(currency, cost, start, end, category="Purchase", EffectiveCost="0", **columns)

    def expect(self, currency: str, figure: str, amount: Decimal) -> None:
        self.expected[currency][figure] += amount

    def row(self, currency: str, cost: Decimal, start: datetime, end: datetime, **columns) -> None:
        self.rows.append(
            focus_row(
                str(cost),
                account=ACCOUNTS[currency],
                BillingCurrency=currency,
                ChargePeriodStart=stamp(start),
                ChargePeriodEnd=stamp(end),
                BillingPeriodStart=f"{start:%Y-%m}-01T00:00:00Z",
                EffectiveCost=columns.pop("EffectiveCost", str(cost)),
                **columns,
            )
        )
        self.billed[currency] += cost


commitment = st.fixed_dictionaries(
    {
        "currency": st.sampled_from(sorted(ACCOUNTS)),
        "upfront": st.integers(0, 500_000),  # 0: no upfront (hourly fees only)
        "refund": st.integers(0, 100),  # percent of the upfront refunded
        "start": st.integers(0, 20),
        "term": st.integers(2, 40),
        "fee": st.integers(0, 300),  # the hourly fee, in cents (0: all upfront)
        "usage": st.lists(
            st.tuples(st.integers(0, 39), st.integers(0, 23), st.integers(0, 5_000)), max_size=6
        ),
        "unused": st.booleans(),
    }
)
on_demand = st.lists(
    st.tuples(
        st.sampled_from(sorted(ACCOUNTS)), st.integers(0, 30), st.integers(1, 4), st.integers(-500, 90_000)
    ),
    max_size=5,
)  # (currency, first day, days charged, cents): a charge over several days is spread over them
credits = st.lists(
    st.tuples(
        st.sampled_from(sorted(ACCOUNTS)),
        st.integers(100, 900_000),
        st.lists(st.integers(1, 20_000), max_size=4),
    ),
    max_size=2,
)  # virtual-currency credits bought, and usage priced in them
subscriptions = st.lists(
    st.tuples(st.sampled_from(sorted(ACCOUNTS)), st.integers(1, 500_000), st.integers(2, 60)), max_size=2
)


def add_commitment(export: Export, number: int, c: dict) -> None:
    currency, cid = c["currency"], f"arn:commitment-{number}"
    first = START + timedelta(days=c["start"])
    end = first + timedelta(days=c["term"])
    upfront = cents(c["upfront"])
    refund = (upfront * c["refund"] / 100).quantize(Decimal("0.01"))
    available = upfront - refund  # what the usage may draw from the lot
    purchase = {"category": "Purchase", "CommitmentDiscountId": cid, "EffectiveCost": "0"}
    if upfront:
        export.row(currency, upfront, at(first), at(end), ChargeFrequency="One-Time", **purchase)
    if refund:
        export.row(
            currency,
            -refund,
            at(first),
            at(end),
            ChargeFrequency="One-Time",
            charge_class="Correction",
            **purchase,
        )
    fee = cents(c["fee"])
    for offset, hour, amortized in c["usage"]:
        day = first + timedelta(days=offset % c["term"])
        drawn = min(cents(amortized), available)
        available -= drawn
        export.expect(currency, "prepaid consumed", drawn)
        export.expect(currency, "expense", fee)  # the hour's fee pays for the hour's usage
        if fee:
            export.row(
                currency,
                fee,
                at(day, hour),
                at(day, hour) + timedelta(hours=1),
                ChargeFrequency="Recurring",
                **purchase,
            )
        if drawn + fee:
            status = "Unused" if c["unused"] and hour % 2 else "Used"
            export.row(
                currency,
                ZERO,
                at(day, hour),
                at(day, hour) + timedelta(hours=1),
                CommitmentDiscountId=cid,
                CommitmentDiscountStatus=status,
                EffectiveCost=str(drawn + fee),
                ChargeFrequency="Usage-Based",
            )
    export.expect(currency, "expired", available)  # only the unused remainder is written off


def add_credits(export: Export, virtual: str, currency: str, amount: Decimal, usage: list[int]) -> None:
    """Credits bought in a virtual currency, and usage priced in it drawing them."""
    export.purchase(currency, amount, at(START), at(START + timedelta(days=90)), PricingCurrency=virtual)
    left = amount
    for hour, used in enumerate(usage):
        drawn = min(cents(used), left)
        left -= drawn
        export.row(
            currency,
            ZERO,
            at(START, hour),
            at(START, hour + 1),
            PricingCurrency=virtual,
            EffectiveCost=str(drawn),
        )
        export.expect(currency, "prepaid consumed", drawn)
    export.expect(currency, "expired", left)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(commitments=st.lists(commitment, max_size=3), demand=on_demand, bought=credits, terms=subscriptions)
def test_expense_plus_prepaid_consumed_plus_expired_equals_purchases_plus_on_demand(
    tmp_path_factory, commitments, demand, bought, terms
):
    export = Export()
    for number, c in enumerate(commitments):
        add_commitment(export, number, c)
    for currency, first, days, amount in demand:
        day = START + timedelta(days=first)
        export.row(currency, cents(amount), at(day), at(day + timedelta(days=days)))
        export.expect(currency, "expense", cents(amount))
    for number, (currency, amount, usage) in enumerate(bought):
        add_credits(export, f"TOKENS{number}", currency, cents(amount), usage)
    for number, (currency, amount, days) in enumerate(terms):
        end = START + timedelta(days=days)
        export.purchase(currency, cents(amount), at(START), at(end), SkuPriceId=f"saas-{number}")
        export.expect(currency, "prepaid consumed", cents(amount))  # amortized over its term, all of it

    path = focus_csv(tmp_path_factory.mktemp("focus") / "export.csv", export.rows, columns=COLUMNS)
    # two generated charges may be identical (the same fee in the same hour): they are two charges
    batch = read_focus([path], FocusOptions("acme-us", services=None, accept_duplicates=True))
    assert batch.quarantined == []
    # no money in the tally that is not stored somewhere: the tally's accepted amounts are the billed ones,
    # and read_focus checked they equal what its facts (outside prepaid pools) and lots hold
    assert {c: a for c, a in batch.tally.amounts["accepted"].items() if a} == {
        c: a for c, a in export.billed.items() if a
    }
    assert batch.tally.balances(batch.rows_read)

    last_day = max(
        [START, *(f.posting_date for f in batch.facts), *(lot.expires_on or START for lot in batch.lots)]
    )
    books = desired_books(
        BooksInput(
            "acme-us",
            last_day + timedelta(days=1),  # every term has ended
            date(2026, 9, 1),
            last_day + timedelta(days=31),
            HISTORY,
            ROLE,
            UsageCosts(HISTORY, "acme-us").add(Classifier(MAPPING).classify_all(batch.facts)),
            lots=batch.lots,
        )
    )
    booked: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for bucket, amount in books.amounts.items():
        booked[bucket.currency][BOOKED[bucket.kind]] += amount
    assert books.overflow == []  # nothing used beyond what was bought
    for currency in set(export.billed) | set(booked):
        figures = {name: amount for name, amount in booked[currency].items() if amount}
        # expense = what was used, the prepaid balance fell by what was drawn, only the rest expired …
        assert figures == {name: a for name, a in export.expected[currency].items() if a}, currency
        # … so Σ expense + Σ prepaid consumed + Σ expired = Σ purchases + Σ on-demand, to the cent
        assert sum(figures.values(), ZERO) == export.billed.get(currency, ZERO), currency
