"""Accounts a ledger refuses on tokenbooks' journal lines (issue 11, finding 7): QuickBooks wants a vendor on
an A/P line and a customer on an A/R line, Xero refuses manual journal lines on system accounts (AR, AP …),
bank and inventory accounts (erps.md §1.2 and §5). `mappings check` refuses them, naming the fix, against
each sandbox's chart as the real adapters read it; and the sandboxes themselves refuse such lines."""

from __future__ import annotations

from dataclasses import replace

from connector.domain.chart import LedgerChart, check_targets
from connector.domain.journals import LedgerTarget
from connector.ledgers.port import PostOutcome
from tests.ledgers.conftest import accrual, request
from tests.support import MINIMAL_MAPPING, mapping
from tests.xero_support import running_xero


def _problems(text: str, entity: str, chart: LedgerChart) -> dict[str, str]:
    return {p.field: p.message for p in check_targets(mapping(text), entity, chart)}


def test_mappings_check_refuses_quickbooks_a_p_and_a_r_accounts_from_the_sandbox_chart(ledger):
    chart = LedgerChart("quickbooks", tuple(ledger.chart_of_accounts()), tuple(ledger.tracking()))
    text = MINIMAL_MAPPING.replace(
        'accrued_ai_costs: {quickbooks: "2150"}', 'accrued_ai_costs: {quickbooks: "2000"}'
    )
    problems = _problems(text, "acme-us", chart)
    message = problems["roles.accrued_ai_costs.quickbooks.account"]
    assert "account '2000' (2000 Accounts Payable (A/P)) is an Accounts Payable account" in message
    assert "QuickBooks refuses a journal line on it without a vendor" in message
    assert _problems(MINIMAL_MAPPING, "acme-us", chart) == {}  # Accrued AI costs (2150) is fine


def test_the_quickbooks_sandbox_refuses_a_journal_line_on_a_p_without_a_vendor(ledger):
    entry = accrual()
    on_payables = replace(entry, lines=(entry.lines[0], replace(entry.lines[1], target=LedgerTarget("2000"))))
    [result] = ledger.post([request(on_payables)])
    assert result.outcome is PostOutcome.REJECTED
    assert "When you use Accounts Payable, you must choose a vendor in the Name field." in result.message


XERO_MAPPING = """\
mapping_version: 1
effective_from: 2026-01-01
change_note: test mapping
entities:
  acme-xero: {ledger: xero, currency: USD, timezone: America/New_York}
roles:
  ai_cogs: {xero: "510"}
  rnd: {xero: "611"}
  sales_marketing: {xero: "612"}
  g_and_a: {xero: "613"}
  accrued_ai_costs: {xero: "800"}
  suspense: {xero: "090"}
rules:
  - id: support
    when: {project: proj_support_assistant}
    category: cogs
    xero: "610"
"""


def test_mappings_check_refuses_xero_system_and_bank_accounts_from_the_sandbox_chart():
    # (the Xero sandbox refuses such lines itself: tests/sandbox/test_xero_journals.py, account 610)
    with running_xero() as rig:
        rig.connect()
        xero = rig.ledger()
        chart = LedgerChart("xero", tuple(xero.chart_of_accounts()), tuple(xero.tracking()))
    problems = _problems(XERO_MAPPING, "acme-xero", chart)
    assert "is a Xero system account (CREDITORS)" in problems["roles.accrued_ai_costs.xero.account"]
    assert "is a bank account: Xero refuses it" in problems["roles.suspense.xero.account"]
    assert "is a Xero system account (DEBTORS)" in problems["support.xero.account"]
