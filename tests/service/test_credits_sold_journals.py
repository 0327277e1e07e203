"""Credits you sell, end to end through `sync`: revenue as customers redeem, breakage under ASC 606-10-55-48."""

from datetime import date
from decimal import Decimal

from connector.domain.journals import JournalKind
from tests.service.books_world import books_world, policies

RR, BK = JournalKind.REVENUE, JournalKind.BREAKAGE
SOLD = "s-1,globex,g-1,purchase,2026-01-01,100000.00,USD,api-credits,2027-01-01"
REDEEMED = "r-1,globex,g-1,redemption,2026-06-30,60000.00,USD,api-credits,"


def test_sell_100000_with_8_percent_breakage_redeem_60000_then_expiry_recognizes_the_rest(
    tmp_path, database_url
):
    world = books_world(tmp_path, database_url=database_url)
    world.enter(
        "1000", "2450", "100000.00", date(2026, 1, 1)
    )  # the sale, booked by billing: Cr Deferred revenue
    world.customer_credits(SOLD, REDEEMED)  # imported in December, for events of January and June
    world.night(date(2026, 12, 31))
    assert world.texts() == [
        """\
2026-06-30 TB-BK-260630-001 breakage USD
  Dr 2450                                          5217.39
  Cr 4150                                          5217.39""",
        """\
2026-06-30 TB-RR-260630-001 revenue USD
  Dr 2450                                         60000.00
  Cr 4100                                         60000.00""",
    ]
    assert world.ledger.balance("2450") == Decimal("-34782.61")  # still deferred
    world.night(date(2027, 1, 1))  # the credits expire with no further redemption
    assert (
        world.texts(BK)[-1]
        == """\
2027-01-01 TB-BK-270101-001 breakage USD
  Dr 2450                                         34782.61
  Cr 4150                                         34782.61"""
    )
    assert world.ledger.balance("4150") == Decimal("-40000.00")  # 40,000.00 of breakage in total
    assert world.ledger.balance("4100") == Decimal("-60000.00")
    assert world.ledger.balance("2450") == Decimal("0.00")


def test_a_revised_breakage_estimate_is_a_cumulative_catch_up_on_its_effective_date(tmp_path, database_url):
    world = books_world(tmp_path, database_url=database_url)
    world.customer_credits(SOLD, REDEEMED)
    world.night(date(2026, 8, 31))
    revised = policies().replace("policy_version: 1", "policy_version: 2")
    revised = revised.replace("effective_from: 2026-01-01", "effective_from: 2026-09-01")
    revised = revised.replace("api-credits: 8", "api-credits: 10").replace(
        "test policies", "breakage now 10 %"
    )
    world.rewrite_policies(revised)
    world.night(date(2026, 9, 30))
    [catch_up] = [t for t in world.texts(BK) if t.startswith("2026-09-01")]
    # 10 %: 10,000 × 60,000 / 90,000 = 6,666.67, of which 5,217.39 was booked: the difference, on 1 September
    assert (
        catch_up
        == """\
2026-09-01 TB-BK-260901-001 breakage USD
  Dr 2450                                          1449.28
  Cr 4150                                          1449.28"""
    )
    # the auditor reads why: a change in estimate, which version made it and its change note
    [journal] = [j for j in world.journals(BK) if j.txn_date == date(2026, 9, 1)]
    assert journal.memo.endswith(
        "For customer globex, grant g-1: change in estimate: expected breakage 8% → 10% from 2026-09-01 "
        "(policies version 2: breakage now 10 %)"
    ), journal.memo
    [redemption_day] = [j for j in world.journals(BK) if j.txn_date == date(2026, 6, 30)]
    assert "change in estimate" not in redemption_day.memo  # breakage as the customer redeems
    assert world.night(date(2026, 10, 1)).plan.planned == []


def test_a_redemption_reversed_by_a_later_import_reverses_its_revenue_and_breakage(tmp_path, database_url):
    world = books_world(tmp_path, database_url=database_url)
    world.customer_credits(SOLD, REDEEMED)
    world.night(date(2026, 7, 31))
    world.customer_credits("r-1,globex,g-1,redemption,2026-06-30,30000.00,USD,api-credits,")  # restated
    world.night(date(2026, 8, 1))
    assert world.ledger.balance("4100") == Decimal("-30000.00")
    assert world.ledger.balance("4150") == Decimal("-2608.70")  # 8,000 × 30,000 / 92,000


def test_revenue_and_breakage_memos_name_the_customer_and_the_grant(tmp_path):
    world = books_world(tmp_path)
    world.customer_credits(
        SOLD,
        "s-2,initech,g-7,purchase,2026-01-01,1000.00,USD,api-credits,2027-01-01",
        REDEEMED,
        "r-2,initech,g-7,redemption,2026-06-30,100.00,USD,api-credits,",
    )
    world.night(date(2026, 7, 1))
    [revenue] = world.journals(RR)
    [breakage] = world.journals(BK)
    for journal in (revenue, breakage):
        assert journal.memo.endswith("For customer globex, grant g-1; customer initech, grant g-7"), (
            journal.memo
        )
