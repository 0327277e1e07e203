"""The worked examples an auditor checks first: prepaid credits, expiry, breakage, amortization, true-up."""

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.amortization import Cohort, amortization_for, amortized_to_date
from connector.domain.breakage import Grant, Redemption, position
from connector.domain.journals import Bucket, JournalKind, LedgerTarget, as_text
from connector.domain.periods import Period
from connector.domain.planner import LedgerCalendar, plan
from connector.domain.posting_buckets import counter_targets
from connector.domain.prepaid import PrepaidLot, UsageItem, balances, draw_fifo, expiries
from connector.domain.trueup import spread_variance
from tests.support import FULL_MAPPING, mapping

MAPPING = mapping(FULL_MAPPING)
COGS = LedgerTarget("5010")


def journal_for(kind: JournalKind, day: date, target: LedgerTarget, amount: str) -> str:
    bucket = Bucket("acme-us", kind, day, "openai", "org-1", target, "USD")
    [planned] = plan(
        {bucket: Decimal(amount)},
        {},
        counter_target=counter_targets(MAPPING, "quickbooks"),
        calendar=LedgerCalendar(),
        used_serials={},
    )
    return as_text(planned.journal)


LOT = PrepaidLot("lot-1", date(2026, 1, 5), Decimal("1000.00"), "USD", expires_on=date(2027, 1, 5))


def test_buy_1000_of_credits_use_250_prepaid_falls_to_750():
    drawdown = draw_fifo([LOT], [UsageItem(date(2026, 3, 1), "cogs", Decimal("250.00"))])
    assert drawdown.overflow == {}
    assert balances([LOT], drawdown, as_of=date(2026, 3, 31)) == {"lot-1": Decimal("750.00")}
    assert (
        journal_for(JournalKind.PREPAID_CONSUMPTION, date(2026, 3, 1), COGS, "250.00")
        == """\
2026-03-01 TB-PC-260301-001 prepaid_consumption USD
  Dr 5010                                           250.00
  Cr 1350                                           250.00"""
    )


def test_a_lot_that_expires_with_80_unused_is_written_off_and_the_balance_ends_at_zero():
    lot = PrepaidLot("lot-2", date(2026, 1, 5), Decimal("100.00"), "USD", expires_on=date(2027, 1, 5))
    drawdown = draw_fifo(
        [lot],
        [
            UsageItem(date(2026, 6, 1), "cogs", Decimal("20.00")),
            UsageItem(date(2027, 1, 5), "cogs", Decimal("5.00")),
        ],
    )  # on expiry day: too late
    [expired] = expiries([lot], drawdown, as_of=date(2027, 1, 5))
    assert expired.unused == Decimal("80.00")
    assert drawdown.overflow == {"cogs": Decimal("5.00")}
    assert balances([lot], drawdown, as_of=date(2027, 1, 5)) == {"lot-2": Decimal("0")}
    assert (
        journal_for(JournalKind.EXPIRY_WRITE_OFF, date(2027, 1, 5), LedgerTarget("6195"), "80.00")
        == """\
2027-01-05 TB-EX-270105-001 expiry_write_off USD
  Dr 6195                                            80.00
  Cr 1350                                            80.00"""
    )


def test_lots_are_drawn_first_by_expiry_then_by_purchase_date_and_overflow_is_flagged():
    late = PrepaidLot("late", date(2026, 1, 1), Decimal("50.00"), "USD", expires_on=date(2027, 6, 1))
    early = PrepaidLot("early", date(2026, 2, 1), Decimal("30.00"), "USD", expires_on=date(2026, 12, 1))
    drawdown = draw_fifo(
        [late, early],
        [
            UsageItem(date(2026, 3, 1), "a", Decimal("40.00")),
            UsageItem(date(2026, 3, 2), "b", Decimal("50.00")),
        ],
    )
    assert [(d.lot_id, d.key, d.amount) for d in drawdown.draws] == [
        ("early", "a", Decimal("30.00")),
        ("late", "a", Decimal("10.00")),
        ("late", "b", Decimal("40.00")),
    ]
    assert drawdown.overflow == {"b": Decimal("10.00")}  # beyond the lots: booked in arrears and flagged


def test_breakage_worked_example_revenue_60000_breakage_5217_39_then_expiry_brings_it_to_40000():
    grant = Grant(
        "g-1",
        "globex",
        "credits",
        date(2026, 1, 1),
        Decimal("100000.00"),
        "USD",
        Decimal("0.08"),
        expires_on=date(2027, 1, 1),
    )
    redeemed = [Redemption("g-1", date(2026, 6, 30), Decimal("60000.00"))]
    mid = position(grant, redeemed, date(2026, 12, 31))
    assert (mid.revenue, mid.breakage, mid.deferred) == (
        Decimal("60000.00"),
        Decimal("5217.39"),
        Decimal("34782.61"),
    )
    end = position(grant, redeemed, date(2027, 1, 1))
    assert (end.revenue, end.breakage, end.deferred) == (
        Decimal("60000.00"),
        Decimal("40000.00"),
        Decimal("0.00"),
    )
    assert (
        journal_for(JournalKind.BREAKAGE, date(2026, 6, 30), LedgerTarget("4150"), "-5217.39")
        == """\
2026-06-30 TB-BK-260630-001 breakage USD
  Dr 2450                                          5217.39
  Cr 4150                                          5217.39"""
    )


def test_a_change_of_breakage_estimate_is_a_cumulative_catch_up():
    redeemed = [Redemption("g-1", date(2026, 6, 30), Decimal("60000.00"))]
    before = Grant("g-1", "globex", "credits", date(2026, 1, 1), Decimal("100000.00"), "USD", Decimal("0.08"))
    after = Grant("g-1", "globex", "credits", date(2026, 1, 1), Decimal("100000.00"), "USD", Decimal("0.10"))
    catch_up = (
        position(after, redeemed, date(2026, 9, 30)).breakage
        - position(before, redeemed, date(2026, 9, 30)).breakage
    )
    assert catch_up == Decimal("6666.67") - Decimal("5217.39")


@settings(max_examples=200, deadline=None)
@given(
    amount=st.integers(min_value=1, max_value=10**9).map(lambda c: Decimal(c).scaleb(-2)),
    rate=st.integers(min_value=0, max_value=100).map(lambda p: Decimal(p) / 100),
    redemptions=st.lists(
        st.integers(min_value=-(10**6), max_value=10**8).map(lambda c: Decimal(c).scaleb(-2)), max_size=8
    ),
)
def test_breakage_never_exceeds_what_is_deferred_and_expiry_leaves_nothing(amount, rate, redemptions):
    grant = Grant("g", "c", "p", date(2026, 1, 1), amount, "USD", rate, expires_on=date(2027, 1, 1))
    redeemed = [Redemption("g", date(2026, 2, 1 + i), r) for i, r in enumerate(redemptions)]
    before = position(grant, redeemed, date(2026, 12, 31))
    assert before.revenue + before.breakage + before.deferred == amount
    assert before.deferred >= 0
    assert before.breakage <= amount * rate + Decimal("0.005")
    end = position(grant, redeemed, date(2027, 1, 1))
    assert end.deferred == 0
    assert end.revenue + end.breakage == amount


def test_straight_line_amortization_is_exact_with_the_remainder_in_the_final_month():
    cohort = Cohort(Period(2026, 1), Decimal("12000.00"), "USD", useful_life_months=36)
    assert amortization_for([cohort], Period(2026, 1)) == 0  # placed in service the month after
    assert amortization_for([cohort], Period(2026, 2)) == Decimal("333.33")
    assert amortized_to_date(cohort, Period(2028, 12)) == Decimal("11666.55")  # 35 months
    assert amortization_for([cohort], Period(2029, 1)) == Decimal("333.45")  # the final month: the remainder
    assert amortized_to_date(cohort, Period(2029, 1)) == Decimal("12000.00")
    assert amortization_for([cohort], Period(2029, 2)) == 0


def test_an_invoice_3_17_above_the_accrual_is_spread_pro_rata_to_the_cent():
    accrued = {LedgerTarget("5010"): Decimal("600.00"), LedgerTarget("6110"): Decimal("400.00")}
    shares = spread_variance(Decimal("3.17"), accrued, "USD")
    assert shares == {LedgerTarget("5010"): Decimal("1.90"), LedgerTarget("6110"): Decimal("1.27")}
    assert sum(shares.values()) == Decimal("3.17")
