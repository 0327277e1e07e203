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


def test_development_stage_spend_is_capitalized_then_amortized_monthly_from_the_month_after(tmp_path):
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
  Dr 6140                                           100.00
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
  Dr 5010                                            20.00
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
