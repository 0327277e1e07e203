"""The mapping names only accounts and tracking options that exist, active, in the entity's ledger."""

from pathlib import Path

from connector.domain.chart import LedgerAccount, LedgerChart, TrackingOption, check_targets
from tests.support import CHART_ACCOUNTS, MINIMAL_MAPPING, chart, mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "example.yaml"


def problems(text: str, against: LedgerChart) -> list[str]:
    return [f"{p.location}: {p.field}: {p.message}" for p in check_targets(mapping(text), "acme-us", against)]


def test_the_shipped_example_names_only_what_the_sandbox_company_holds():
    assert problems(EXAMPLE.read_text(), chart()) == []


def test_an_account_used_by_many_rules_is_reported_once_at_the_role_that_names_it():
    text = MINIMAL_MAPPING.replace(
        'ai_cogs: {quickbooks: "5010"}', 'ai_cogs: {quickbooks: "AI Cost of Sales"}'
    )
    assert problems(text, chart()) == [
        "7: roles.ai_cogs.quickbooks.account: account 'AI Cost of Sales' is not in the QuickBooks chart of "
        "accounts of acme-us"
    ]


def test_a_rule_that_overrides_the_account_is_checked_at_its_own_line():
    text = MINIMAL_MAPPING.replace(
        "    category: rnd\n", '    category: rnd\n    quickbooks: {account: "6199", class: Engineering}\n'
    )
    assert problems(text, chart()) == [
        "21: eng.quickbooks.account: account '6199' (6199 Legacy AI tools) is inactive in QuickBooks; the "
        "ledger refuses postings to it"
    ]


def test_an_account_is_found_by_number_or_name_and_an_active_namesake_wins():
    accounts = (
        *CHART_ACCOUNTS,
        LedgerAccount("90", "AI R&D", None, active=False),  # an old, inactive account of the same name
    )
    text = MINIMAL_MAPPING.replace('rnd: {quickbooks: "6110"}', 'rnd: {quickbooks: "AI R&D"}')
    assert problems(text, LedgerChart("quickbooks", accounts, chart().options)) == []


XERO = """\
mapping_version: 1
effective_from: 2026-01-01
change_note: a Xero company
entities:
  acme-uk: {ledger: xero, currency: GBP, timezone: Europe/London}
roles:
  ai_cogs: {xero: "510"}
  rnd: {xero: "611"}
  sales_marketing: {xero: "612"}
  g_and_a: {xero: "613"}
  accrued_ai_costs: {xero: "2150"}
  suspense: {xero: "619"}
rules:
  - id: support
    when: {project: proj_support}
    category: cogs
    xero: {tracking: {Product: Support Assistant, Region: UK}}
"""
XERO_CHART = LedgerChart(
    "xero",
    tuple(
        LedgerAccount(code, name, code)
        for code, name in [
            ("510", "AI COGS"),
            ("611", "AI R&D"),
            ("612", "AI S&M"),
            ("613", "AI G&A"),
            ("2150", "Accrued AI costs"),
            ("619", "Suspense"),
        ]
    ),
    (
        TrackingOption("Product", "t1", "Support Assistant", active=False),
        TrackingOption("Product", "t2", "Search"),
    ),
)


def test_xero_tracking_options_must_exist_and_not_be_archived():
    found = [str(p) for p in check_targets(mapping(XERO), "acme-uk", XERO_CHART)]
    assert found == [
        "test.yaml:17: support.xero.tracking.Product: Product tracking option 'Support Assistant' is archived "
        "in Xero; the ledger refuses it on new lines. Fix: make it active again in Xero, or name an active "
        "Product tracking option",
        "test.yaml:17: support.xero.tracking.Region: tracking category 'Region' does not exist in Xero. Fix: "
        "use one of the tracking categories: Product",
    ]
