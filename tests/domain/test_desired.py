"""Golden cases of the desired amounts that the worked examples do not reach: lots drawn across, invoices of
prepaid accounts, an invoice with nothing accrued, the policy file's problems, the rates table."""

from datetime import date
from decimal import Decimal

import pytest

from connector.domain.accounting_policy import AccrualStyle, Billing, PolicyHistory, Tolerance
from connector.domain.classifier import Classifier
from connector.domain.credits import CreditLot
from connector.domain.desired import BooksInput, UsageCosts, desired_books
from connector.domain.fx import RateTable, convert, parse_rates
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.journals import JournalKind
from connector.domain.policy_file import parse_policies
from tests.support import FULL_MAPPING, fact, mapping

MAPPING = mapping(FULL_MAPPING)
PREPAID = """\
policy_version: 1
effective_from: 2026-01-01
change_note: prepaid
defaults: {billing: prepaid}
"""


def desired(policy_text, facts, *, lots=(), invoices=(), as_of=date(2026, 12, 31)):
    policies, problems = parse_policies(policy_text, "p.yaml")
    assert not problems
    history = PolicyHistory.of([policies])
    inp = BooksInput(
        "acme-us",
        as_of,
        date(2026, 10, 1),
        date(2026, 12, 31),
        history,
        lambda role: MAPPING.role_target(role, "quickbooks"),
        UsageCosts(history, "acme-us").add(Classifier(MAPPING).classify_all(facts)),
        {},
        list(lots),
        (),
        list(invoices),
    )
    return desired_books(inp)


def amounts(result, kind):
    return sorted(
        (b.period.isoformat(), b.target.account, str(a)) for b, a in result.amounts.items() if b.kind is kind
    )


def lot(lot_id, amount, bought, expires):
    return CreditLot("acme-us", "openai", "org-1", lot_id, bought, Decimal(amount), "USD", expires)


def test_a_days_usage_is_drawn_across_lots_first_expiring_first_and_the_rest_accrued_and_flagged():
    result = desired(
        PREPAID,
        [fact("100.00", date(2026, 10, 5)), fact("50.00", date(2026, 10, 6))],
        lots=[
            lot("late", "100.00", date(2026, 9, 1), date(2027, 9, 1)),
            lot("soon", "30.00", date(2026, 9, 2), date(2026, 12, 1)),
        ],
    )
    assert amounts(result, JournalKind.PREPAID_CONSUMPTION) == [
        ("2026-10-05", "5010", "100.00"),  # 30.00 from "soon", 70.00 from "late"
        ("2026-10-06", "5010", "30.00"),
    ]
    assert amounts(result, JournalKind.USAGE_ACCRUAL) == [("2026-10-06", "5010", "20.00")]
    assert [(o.day, o.amount) for o in result.overflow] == [(date(2026, 10, 6), Decimal("20.00"))]
    assert amounts(result, JournalKind.EXPIRY_WRITE_OFF) == []  # "soon" was used up before it expired


def test_an_invoice_of_a_prepaid_account_is_compared_with_the_overflow_only_and_its_credits_are_not_usage():
    invoice = Invoice(
        "acme-us",
        "openai",
        "org-1",
        "INV-1",
        "2026-10",
        date(2026, 11, 3),
        Decimal("25.00"),
        "USD",
        (
            InvoiceLine("usage", Decimal("130.00")),
            InvoiceLine("prepaid credits applied", Decimal("-105.00"), "credit"),
        ),
    )
    result = desired(
        PREPAID,
        [fact("130.00", date(2026, 10, 5))],
        lots=[lot("a", "100.00", date(2026, 9, 1), None)],
        invoices=[invoice],
    )
    [true_up] = result.trueups
    assert (true_up.billed_usage, true_up.accrued, true_up.variance) == (
        Decimal("25.00"),
        Decimal("30.00"),
        Decimal("-5.00"),
    )
    assert amounts(result, JournalKind.TRUE_UP) == [("2026-10-31", "5010", "-5.00")]


def test_an_invoice_for_a_period_with_nothing_accrued_is_trued_up_to_suspense_and_said_so():
    invoice = Invoice(
        "acme-us", "openai", "org-1", "INV-1", "2026-10", date(2026, 11, 3), Decimal("12.00"), "USD"
    )
    result = desired(PREPAID.replace("prepaid", "arrears"), [], invoices=[invoice])
    assert amounts(result, JournalKind.TRUE_UP) == [("2026-10-31", "6190", "12.00")]
    assert "nothing was accrued to spread it over" in result.notes[0]


def test_the_policy_file_inherits_defaults_and_account_entries_match_first():
    text = (
        PREPAID
        + """\
entities:
  acme-us:
    accrual: month_end_reversing
    accounts:
      - {provider: openai, account: "org-*", billing: arrears, invoice_tolerance: 10}
"""
    )
    policies, problems = parse_policies(text, "p.yaml")
    assert problems == []
    entity = policies.entity("acme-us")
    org = entity.account("openai", "org-7")
    assert (org.billing, org.accrual, org.invoice_tolerance) == (
        Billing.ARREARS,
        AccrualStyle.MONTH_END_REVERSING,
        Tolerance(Decimal(10), Decimal(0)),
    )
    assert entity.account("anthropic", "x").billing is Billing.PREPAID
    assert policies.entity("acme-de").account("openai", "org-7").billing is Billing.PREPAID  # defaults


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ("    billing: postpaid\n", "7", "'postpaid' is not one of arrears, prepaid"),
        (
            "    accrual: month_end_reversing\n    granularity: daily\n",
            "8",
            "month_end_reversing books one accrual per month",
        ),
        ("    capitalization: {useful_life_months: 0}\n", "7", "0 is not 1..600 months"),
        ("    expected_breakage_percent: {api: 120}\n", "7", "120 is not a number from 0 to 100"),
        ("    invoice_tolerance: {absolute: -1}\n", "7", "-1 is not a number from 0"),
        ("    billling: prepaid\n", "7", "unknown key in entities.acme-us"),
    ],
)
def test_a_broken_policy_file_says_file_line_key_and_fix(extra, where, message):
    text = PREPAID + "entities:\n  acme-us:\n" + extra
    policies, problems = parse_policies(text, "policies.yaml")
    assert policies is None
    [problem] = problems
    assert (problem.source, problem.location) == ("policies.yaml", where)
    assert message in problem.message
    assert problem.fix


def test_the_rates_table_holds_a_rate_until_the_next_row_and_refuses_bad_rows_by_line():
    table, problems = parse_rates(
        "# rates\ndate,from,to,rate,source\n2026-10-01,USD,EUR,0.93,ECB\n2026-10-05,USD,EUR,0.94,ECB\n2026-10-06,USD,EUR,x,\n",
        "fx.csv",
    )
    assert [(p.location, p.field) for p in problems] == [("5", "")]
    assert table.rate("USD", "EUR", date(2026, 10, 4)).rate == Decimal("0.93")
    assert table.rate("USD", "EUR", date(2026, 10, 9)).rate == Decimal("0.94")
    assert table.rate("USD", "EUR", date(2026, 9, 30)) is None
    assert convert(Decimal("100.006"), table.rate("USD", "EUR", date(2026, 10, 1))) == Decimal("93.01")
    assert RateTable().rate("EUR", "EUR", date(2026, 1, 1)).rate == 1
