"""Capitalization (ASC 350-40) and straight-line amortization, end to end through `sync`."""

from datetime import date
from decimal import Decimal

from connector.domain.journals import JournalKind, as_text
from tests.service.books_world import books_world, policies
from tests.support import FULL_MAPPING

CP, AM = JournalKind.CAPITALIZATION, JournalKind.AMORTIZATION
CAPITALIZE_RULE = """\
  - id: billing-v2
    when: {project: proj_eng_billing_v2}
    category: capitalize
    quickbooks: {class: Engineering}
  - id: eng
"""
LIFE_12 = "{useful_life_months: 12}"


def capitalizing_world(tmp_path, capitalization: str = LIFE_12):
    world = books_world(tmp_path, policies(capitalization=capitalization))
    (tmp_path / "mapping.yaml").write_text(FULL_MAPPING.replace("  - id: eng\n", CAPITALIZE_RULE))
    world.rewrite_policies(world.policies_path.read_text())  # a fresh app reads the new mapping
    return world


def test_capitalized_spend_of_no_declared_project_is_amortized_from_the_month_after_keeping_its_class(
    tmp_path,
):
    world = capitalizing_world(tmp_path)
    world.source.set("1200.00", date(2026, 10, 5), project="proj_eng_billing_v2")
    world.night(date(2026, 10, 5))
    assert world.texts(CP) == [
        """\
2026-10-05 TB-CP-261005-001 capitalization USD
  Dr 1650 (Engineering)                            1200.00
  Cr 2150                                          1200.00"""
    ]
    world.night(date(2026, 10, 31))
    world.night(date(2026, 11, 30))
    assert world.journals(AM) == []  # October's cost is in service from November; November has not ended
    world.night(date(2026, 12, 1))
    assert world.texts(AM) == [
        """\
2026-11-30 TB-AM-261130-001 amortization USD
  Dr 6140 (Engineering)                             100.00
  Cr 1655                                           100.00"""
    ]
    world.night(date(2027, 11, 1))  # a year later: the last month takes what remains, and it stops
    assert world.ledger.balance("1655") == Decimal("-1200.00")
    assert len(world.journals(AM)) == 12
    assert world.night(date(2027, 12, 2)).plan.planned == []


def test_fine_tuning_capitalized_by_policy_lands_on_capitalized_software_with_its_class_and_cogs_amortization(
    tmp_path,
):
    policy = "{fine_tuning: capitalize, useful_life_months: 24, amortization_role: ai_cogs}"
    world = capitalizing_world(tmp_path, policy)
    world.source.set("480.00", date(2026, 10, 7), line_item="ft-gpt-4.1 training")
    world.source.set("10.00", date(2026, 10, 7))  # the same project's inference stays COGS
    world.night(date(2026, 10, 7))
    assert world.texts() == [
        """\
2026-10-07 TB-CP-261007-001 capitalization USD
  Dr 1650 (Support Assistant)                       480.00
  Cr 2150                                           480.00""",
        """\
2026-10-07 TB-AC-261007-001 usage_accrual USD
  Dr 5010 (Support Assistant)                        10.00
  Cr 2150                                            10.00""",
    ]
    world.night(date(2026, 12, 1))
    assert world.texts(AM) == [
        """\
2026-11-30 TB-AM-261130-001 amortization USD
  Dr 5010 (Support Assistant)                        20.00
  Cr 1655                                            20.00"""
    ]


def test_a_change_of_capitalization_policy_applies_from_its_effective_date_never_before(tmp_path):
    world = capitalizing_world(tmp_path)
    world.source.set("100.00", date(2026, 10, 7), line_item="ft-gpt-4.1 training")
    world.night(date(2026, 10, 7))
    world.source.set("200.00", date(2026, 11, 3), line_item="ft-gpt-4.1 training")
    world.night(date(2026, 11, 3))
    assert world.journals(CP) == []  # fine-tuning expensed under version 1
    capitalize = policies(capitalization="{fine_tuning: capitalize, useful_life_months: 12}")
    capitalize = capitalize.replace("policy_version: 1", "policy_version: 2")
    capitalize = capitalize.replace("effective_from: 2026-01-01", "effective_from: 2026-11-01")
    world.rewrite_policies(capitalize.replace("test policies", "fine-tuning capitalized from November"))
    world.night(date(2026, 11, 4))
    # November's fine-tuning moves from the expense to Capitalized software: a reclass, Accrued AI costs
    # untouched, whose memo names the policy version and its change note
    [reclass] = world.journals(JournalKind.RECLASS)
    assert (
        as_text(reclass)
        == """\
2026-11-03 TB-RC-261103-001 reclass USD
  Dr 1650 (Support Assistant)                       200.00
  Cr 5010 (Support Assistant)                       200.00"""
    )
    assert "accounting policies: version 2 effective 2026-11-01: fine-tuning capitalized from November" in (
        reclass.memo
    )
    assert world.journals(CP) == []
    assert world.ledger.balance("5010") == Decimal("100.00")  # October's stays expensed
    assert world.ledger.balance("2150") == Decimal("-300.00")


PROJECT = """{useful_life_months: 12,
      projects: {billing-v2: {%s useful_life_months: 10, expensed_as: rnd}}}"""


def test_a_project_capitalized_march_to_may_with_go_live_on_1_june_starts_amortizing_in_june(tmp_path):
    world = capitalizing_world(tmp_path, PROJECT % "")
    for month, amount in ((3, "300.00"), (4, "400.00"), (5, "300.00")):
        world.source.set(amount, date(2026, month, 10), project="proj_eng_billing_v2")
        world.night(date(2026, month, 28))
    world.night(date(2026, 6, 1))
    assert world.ledger.balance("1650") == Decimal("1000.00")
    assert world.journals(AM) == []  # still being built: nothing is amortized before go-live
    # go-live recorded: a new policy version, from the in-service date
    live = policies(capitalization=PROJECT % "in_service: 2026-06-01,")
    live = live.replace("policy_version: 1", "policy_version: 2").replace(
        "effective_from: 2026-01-01", "effective_from: 2026-06-01"
    )
    world.rewrite_policies(live.replace("test policies", "billing v2 went live on 1 June"))
    world.source.set("50.00", date(2026, 6, 3), project="proj_eng_billing_v2")  # after go-live: an expense
    world.night(date(2026, 7, 1))
    assert world.texts(AM) == [
        """\
2026-06-30 TB-AM-260630-001 amortization USD
  Dr 6140 (Engineering)                             100.00
  Cr 1655                                           100.00"""
    ]
    [june] = world.journals(AM)
    assert "billing-v2" in june.memo
    assert world.ledger.balance("1650") == Decimal("1000.00")  # only costs before go-live are capitalized
    assert world.ledger.balance("6110") == Decimal("50.00")  # June's spend is R&D, with its class
    assert ("6110", "Engineering") in {
        (ln.target.account, ln.target.class_name) for j in world.journals() for ln in j.lines
    }
    world.night(date(2027, 4, 1))  # ten months over the project's own useful life
    assert world.ledger.balance("1655") == Decimal("-1000.00")
    assert len(world.journals(AM)) == 10
