"""Reconciling books kept in pounds for a provider billing dollars (Xero; QuickBooks without multicurrency):
the provider's cost, its invoice and what tokenbooks posted compared in dollars, what it posted and what the
ledger holds in pounds, the two tied by the rates named — through the service and the command line."""

import json
from datetime import date
from decimal import Decimal

from sqlmodel import select

from connector.domain.periods import Period
from connector.domain.reconcile import ReconStatus
from connector.ledgers.port import CurrencySetup
from connector.service.close import close_month
from connector.service.reconcile import reconcile_run
from connector.store.tables import ContributionRow, JournalRow
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import (
    ENTITY,
    FX_POLICY,
    BooksWorld,
    invoice_november,
    policies,
    pound_november,
    pound_world,
)
from tests.test_cli import tokenbooks_with

NOV = Period(2026, 11)
CONVERSION = "posted in GBP = posted in USD at the rates of its days"


def invoiced_november(tmp_path) -> BooksWorld:
    world = pound_world(tmp_path)
    pound_november(world)
    invoice_november(world, "4000.04")
    return world


def reconciled(world: BooksWorld):
    [result] = reconcile_run(world.app, entity=ENTITY, period=NOV)
    return result, {f.check: f for f in result.findings}


def test_converted_books_match_in_the_providers_currency_and_in_the_books_with_the_rates_named(tmp_path):
    result, found = reconciled(invoiced_november(tmp_path))
    assert result.status is ReconStatus.MATCHED
    figures = result.input
    assert (figures.currency, result.provider_cost, figures.invoice_total, figures.posted_total) == (
        "USD",
        Decimal("4000.04"),
        Decimal("4000.04"),
        Decimal("4000.04"),
    )  # posted as computed, before conversion: comparable with the provider's cost and its invoice
    assert (figures.ledger_currency, figures.posted_in_ledger_currency, figures.ledger_total) == (
        "GBP",
        Decimal("3060.04"),
        Decimal("3060.04"),
    )
    assert {check: f.currency for check, f in found.items()} == {
        "posted = provider cost (rounded per bucket)": "USD",
        CONVERSION: "GBP",
        "ledger = posted": "GBP",
        "invoice = provider cost": "USD",
    }
    conversion = found[CONVERSION]
    assert conversion.holds
    assert (conversion.expected, conversion.actual) == (Decimal("3060.03"), Decimal("3060.04"))
    assert (
        "converted from USD at 0.7600 GBP per USD (2026-11-01, BoE) for 2026-11-13..2026-11-14, "
        "0.7700 GBP per USD (2026-11-15, BoE) for 2026-11-15..2026-11-16" in conversion.explanation
    )
    assert (
        "moves the total by +0.01 GBP against its USD amounts at those rates: rounding, not a variance"
        in (conversion.explanation)
    )


def test_an_invoice_ten_dollars_above_the_cost_whose_true_up_waits_for_approval_is_a_variance_in_dollars(
    tmp_path,
):
    world = pound_world(tmp_path)
    pound_november(world)
    approve = policies(fx=FX_POLICY, posting_mode="approve").replace("policy_version: 1", "policy_version: 2")
    world.rewrite_policies(approve.replace("change_note: test policies", "change_note: AP approves"))
    invoice_november(world, "4010.04")
    result, found = reconciled(world)
    assert result.status is ReconStatus.VARIANCE
    assert all(
        found[check].holds for check in ("posted = provider cost (rounded per bucket)", "ledger = posted")
    )
    invoice = found["invoice = provider cost"]
    assert (invoice.holds, invoice.difference, invoice.currency) == (False, Decimal("10.00"), "USD")
    assert "+10.00 USD unexplained, beyond the tolerance of 1.00 USD" in invoice.explanation
    assert result.input.queued_total == Decimal("10.00")  # the held true-up, in dollars as computed


def test_the_ledger_check_in_pounds_finds_a_journal_deleted_in_the_ledger(tmp_path):
    world = invoiced_november(tmp_path)
    del world.ledger.journals["TB-AC-261115-001"]  # someone deletes the 15th's accrual by hand
    result, found = reconciled(world)
    assert result.status is ReconStatus.DRIFT
    ledger = found["ledger = posted"]
    assert (ledger.expected, ledger.actual, ledger.difference, ledger.currency) == (
        Decimal("3060.04"),
        Decimal("2290.03"),
        Decimal("-770.01"),
        "GBP",
    )
    assert ledger.explanation == "changed or missing in the ledger: TB-AC-261115-001 (missing)"
    assert found["posted = provider cost (rounded per bucket)"].holds  # the dollars are not in doubt


def test_with_multicurrency_the_ledger_holds_dollars_and_is_reconciled_in_dollars(tmp_path):
    world = pound_world(tmp_path)
    world.ledger.currencies = CurrencySetup("GBP", True)  # QuickBooks: journals in USD with ExchangeRate
    pound_november(world)
    invoice_november(world, "4000.04")
    result, found = reconciled(world)
    assert result.status is ReconStatus.MATCHED
    assert (result.input.converted, result.input.ledger_total) == (None, Decimal("4000.04"))
    assert {f.currency for f in found.values()} == {"USD"}


def test_tokenbooks_reconcile_of_converted_books_says_the_currency_of_every_figure(tmp_path):
    world = invoiced_november(tmp_path)
    variables = {
        "TOKENBOOKS_DATABASE_URL": world.database_url,
        "TOKENBOOKS_MAPPING_FILE": str(tmp_path / "mapping.yaml"),
        "TOKENBOOKS_POLICIES_FILE": str(world.policies_path),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    done = tokenbooks_with(variables, tmp_path, "reconcile", "--period", "2026-11", "--offline")
    assert done.returncode == 0, done.stderr
    cells = [line.split("│")[1:3] for line in done.stdout.splitlines() if line.count("│") == 3]
    rows = {label.strip(): amount.strip() for label, amount in cells if label.strip()}
    assert rows == {
        "Provider cost": "4,000.04 USD",
        "Invoice": "4,000.04 USD",
        "Posted by tokenbooks": "4,000.04 USD",
        "of which true-up": "0.00 USD",
        "Posted, in the books' currency": "3,060.04 GBP",
        "In the ledger": "—",
        "Coverage": "100.00%",
        "Status": "matched",
    }
    said = " ".join(done.stdout.split())
    assert "✓ openai: posted = provider cost (rounded per bucket), in USD" in said
    assert (
        "✓ openai: posted in GBP = posted in USD at the rates of its days — converted from USD at 0.7600"
        in said
    )
    assert "✓ openai: invoice = provider cost, in USD" in said

    listed = tokenbooks_with(variables, tmp_path, "reconcile", "--period", "2026-11", "--offline", "--json")
    [body] = json.loads(listed.stdout)["results"]
    assert (body["currency"], body["posted_total"], body["books_currency"], body["posted_in_books"]) == (
        "USD",
        "4000.04",
        "GBP",
        "3060.04",
    )
    assert [(r["rate"], r["from"], r["to"], r["first_day"]) for r in body["conversion"]["rates"]] == [
        ("0.7600", "USD", "GBP", "2026-11-13"),
        ("0.7700", "USD", "GBP", "2026-11-15"),
    ]
    assert (body["conversion"]["at_rates"], body["conversion"]["rounding"]) == ("3060.03", "0.01")
    assert [f["currency"] for f in body["findings"]] == ["USD", "GBP", "USD"]


def test_the_close_of_converted_books_sets_the_accrual_against_its_invoice_in_dollars(tmp_path):
    world = pound_world(tmp_path)
    pound_november(world)
    invoice_november(world, "4010.04")  # 10 USD above the accrual: trued up (7.70 GBP at 0.77)
    world.clock.night_after(date(2026, 12, 5))
    checklist = close_month(world.app, entity=ENTITY, period=NOV).checklist
    assert checklist is not None
    [accrual] = checklist.accruals  # one line, not the pounds accrued apart from the dollars invoiced
    assert (accrual.currency, accrual.accrued, accrual.true_up, accrual.invoiced, accrual.not_invoiced) == (
        "USD",
        Decimal("4000.04"),
        Decimal("10.00"),
        Decimal("4010.04"),
        Decimal("0"),
    )
    assert checklist.reconciliation == [("openai", "org-1", "matched")]
    assert checklist.ready


def test_the_close_of_converted_books_draws_a_dollar_lot_in_dollars(tmp_path):
    world = pound_world(tmp_path, "billing: prepaid")
    world.buy_credits("lot-1", "5000.00", date(2026, 11, 1), None)
    pound_november(world)
    world.clock.night_after(date(2026, 12, 1))
    checklist = close_month(world.app, entity=ENTITY, period=NOV).checklist
    assert checklist is not None
    [lot] = checklist.lots
    assert (lot.currency, lot.amount, lot.used, lot.balance) == (
        "USD",
        Decimal("5000.00"),
        Decimal("4000.04"),
        Decimal("999.96"),
    )


def test_a_posting_converted_before_the_providers_amount_was_kept_is_read_at_its_days_rate_and_said_so(
    tmp_path,
):
    world = invoiced_november(tmp_path)
    with UnitOfWork(world.app.engine) as uow:  # the 13th's accrual as stored before migration 0016
        journal = uow.session.exec(select(JournalRow).where(JournalRow.key == "TB-AC-261113-001")).one()
        for row in uow.session.exec(select(ContributionRow).where(ContributionRow.journal_id == journal.id)):
            row.converted_from, row.source_amount = None, None
        uow.commit()
    result, found = reconciled(world)
    assert result.status is ReconStatus.MATCHED
    assert (result.input.posted_total, result.input.posted_in_ledger_currency) == (
        Decimal("4000.04"),  # 760.01 GBP read at 0.76 as 1,000.01 USD
        Decimal("3060.04"),
    )
    assert (
        "760.01 GBP of it was converted before tokenbooks kept the provider's amount: it is read as "
        "1,000.01 USD at the rates of its days"
        in found["posted = provider cost (rounded per bucket)"].explanation
    )
    conversion = found[CONVERSION]  # the three days whose dollars were kept
    assert (conversion.expected, conversion.actual) == (Decimal("2300.02"), Decimal("2300.03"))
