"""Usage splits keep the billed bucket exact; credit lots and customer credit grants stay consistent."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain.credits import (
    CreditLot,
    CustomerCreditEvent,
    CustomerCreditKind,
    check_customer_events,
    default_expiry,
    grant_balances,
)
from connector.domain.usage import SPLIT_BASIS, split_fact
from tests.support import fact


def test_an_anthropic_bucket_splits_across_keys_to_the_last_digit():
    bucket = fact("1.2378912", provider="anthropic")
    shares = split_fact(
        bucket, [("k1", Decimal(1)), ("k2", Decimal(2))], dimension="api_key", basis="test basis"
    )
    assert [s.amount for s in shares] == [Decimal("0.4126304"), Decimal("0.8252608")]
    assert sum(s.amount for s in shares) == bucket.amount
    assert {s.dimensions.get(SPLIT_BASIS) for s in shares} == {"test basis"}
    assert len({s.natural_key for s in shares}) == 2
    assert all(s.natural_key != bucket.natural_key for s in shares)


def test_without_usage_the_bucket_stays_whole():
    bucket = fact("5.00")
    assert split_fact(bucket, [], dimension="api_key", basis="x") == [bucket]
    assert split_fact(bucket, [("k", Decimal(0))], dimension="api_key", basis="x") == [bucket]


amounts = st.decimals(min_value=Decimal("-10000"), max_value=Decimal("10000"), places=7, allow_nan=False)
weights = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 10**9)), min_size=1, max_size=6
)


@given(amounts, weights)
def test_any_split_sums_exactly_to_the_bucket(amount, pairs):
    bucket = fact(str(amount))
    shares = split_fact(bucket, [(k, Decimal(w)) for k, w in pairs], dimension="api_key", basis="x")
    assert sum(s.amount for s in shares) == bucket.amount
    assert len({s.natural_key for s in shares}) == len(shares)


def test_openai_prepaid_credits_expire_after_one_year_and_others_do_not_by_default():
    assert default_expiry("openai", date(2026, 3, 15)) == date(2027, 3, 15)
    assert default_expiry("openai", date(2028, 2, 29)) == date(2029, 2, 28)
    assert default_expiry("anthropic", date(2026, 3, 15)) is None


def test_a_credit_lot_refuses_what_cannot_be_a_purchase():
    with pytest.raises(ValueError, match="positive"):
        CreditLot("e", "openai", "org", "L1", date(2026, 1, 1), Decimal("-5"), "USD")
    with pytest.raises(ValueError, match="not after"):
        CreditLot(
            "e", "openai", "org", "L1", date(2026, 1, 1), Decimal("5"), "USD", expires_on=date(2025, 1, 1)
        )


def event(event_id, kind, amount, grant="G1", customer="cust-1", day=date(2026, 1, 1), currency="USD"):
    return CustomerCreditEvent(
        "e", event_id, customer, grant, CustomerCreditKind(kind), day, Decimal(amount), currency
    )


def test_grant_events_are_checked_in_date_order_against_the_balance():
    incoming = [
        ("row 3", event("E2", "redemption", "60", day=date(2026, 2, 1))),
        ("row 2", event("E1", "purchase", "100")),
        ("row 4", event("E3", "redemption", "50", day=date(2026, 3, 1))),  # only 40 left
        ("row 5", event("E4", "redemption", "5", grant="G9")),  # nobody bought G9
        ("row 6", event("E5", "refund", "10", customer="cust-2", day=date(2026, 3, 2))),
        ("row 7", event("E6", "expiry", "40", day=date(2026, 12, 31))),
    ]
    accepted, refused = check_customer_events([], incoming, "credits.csv")
    assert [e.event_id for e in accepted] == ["E1", "E2", "E6"]
    reasons = {where: (p.field, p.message) for where, p in refused}
    assert reasons["row 4"][0] == "amount"
    assert "exceeds" in reasons["row 4"][1]
    assert reasons["row 5"][0] == "grant"
    assert reasons["row 6"][0] == "customer"
    balance = grant_balances(accepted)["G1"]
    assert (balance.purchased, balance.redeemed, balance.expired, balance.remaining) == (100, 60, 40, 0)


def test_an_event_already_stored_counts_toward_the_balance():
    stored = [event("E1", "purchase", "100"), event("E2", "redemption", "90")]
    accepted, refused = check_customer_events(stored, [("row 2", event("E3", "redemption", "20"))], "f")
    assert accepted == []
    assert refused[0][1].field == "amount"


def test_stored_credits_feed_the_prepaid_and_breakage_policies():
    from connector.domain.breakage import position

    lot = CreditLot("e", "openai", "org", "L1", date(2026, 1, 15), Decimal("1000"), "USD", date(2027, 1, 15))
    assert lot.as_prepaid().open_on(date(2026, 6, 1))
    assert not lot.as_prepaid().open_on(date(2027, 1, 15))
    grant = event("P1", "purchase", "100000").as_grant(Decimal("0.08"))
    redeemed = event("R1", "redemption", "60000", day=date(2026, 2, 1)).as_redemption()
    assert position(grant, [redeemed], date(2026, 3, 1)).breakage == Decimal("5217.39")
    with pytest.raises(ValueError, match="not a purchase"):
        event("R1", "redemption", "1").as_grant(Decimal(0))
