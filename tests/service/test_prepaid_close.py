"""The month-end of a prepaid provider account: the provider invoices the credits bought, not the usage drawn
from them, so no invoice is owed for a month its lots paid for; usage beyond the lots still waits for its
invoice; the lots bought in the month are matched to the month's invoice when one is imported; the lots'
balance on the last day is shown beside the books'."""

from datetime import UTC, date, datetime
from decimal import Decimal

from connector.domain.periods import Period
from connector.service.close import close_month
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, BooksWorld, books_world, policies

OCTOBER = Period(2026, 10)


def _close(world: BooksWorld):
    world.clock.now = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
    result = close_month(world.app, entity=ENTITY, period=OCTOBER)
    assert result.status == "succeeded", result.reason
    return result


def _findings(world: BooksWorld) -> dict[str, dict]:
    with UnitOfWork(world.app.engine) as uow:
        [row] = uow.reconciliations.latest(ENTITY, str(OCTOBER))
    return {f["check"]: f for f in row.findings if "check" in f}


def test_a_prepaid_month_its_lots_paid_for_closes_without_an_invoice(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("lot-1", "1000.00", date(2026, 9, 15), date(2027, 9, 15))
    world.source.set("250.00", date(2026, 10, 5))
    result = _close(world)
    assert result.checklist.reconciliation == [("openai", "org-1", "matched")]
    assert result.checklist.ready, result.checklist.blockers
    [line] = result.checklist.prepaid
    assert (line.drawn, line.beyond_lots, line.bought, line.remaining, line.booked) == (
        Decimal("250.00"),
        Decimal("0"),
        Decimal("0"),
        Decimal("750.00"),
        Decimal("750.00"),
    )
    findings = _findings(world)
    assert findings["no invoice expected: the usage is drawn from prepaid credit lots"]["holds"]
    balance = findings["prepaid balance on the last day = lots' remaining"]
    assert (balance["expected"], balance["actual"], balance["shown_only"]) == ("750.00", "750.00", True)


def test_usage_beyond_the_lots_still_waits_for_its_invoice_and_the_invoice_settles_it(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("lot-1", "100.00", date(2026, 9, 15), date(2027, 9, 15))
    world.source.set("130.00", date(2026, 10, 5))
    result = _close(world)
    assert result.checklist.reconciliation == [("openai", "org-1", "missing_invoice")]
    [blocker] = result.checklist.blockers
    assert "30.00 USD of usage no lot covered is accrued, billed in arrears" in blocker.what
    assert "tokenbooks import invoices FILE" in blocker.fix
    # the provider's invoice: the month's usage, the prepaid balance applied, 30.00 to pay
    world.invoice(
        "INV-10",
        "2026-10",
        "2026-11-03",
        "30.00",
        [("API usage", "130.00", "usage"), ("Credits", "-100.00", "credit")],
    )
    result = _close(world)
    assert result.checklist.reconciliation == [("openai", "org-1", "matched")]
    assert result.checklist.ready, result.checklist.blockers


def test_an_invoice_of_the_usage_beyond_the_lots_alone_is_matched_too(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("lot-1", "100.00", date(2026, 9, 15), date(2027, 9, 15))
    world.source.set("130.00", date(2026, 10, 5))
    world.invoice("INV-10", "2026-10", "2026-11-03", "30.00")  # a bare total: what is left to pay
    result = _close(world)
    assert result.checklist.reconciliation == [("openai", "org-1", "matched")]
    assert result.checklist.ready, result.checklist.blockers


def test_a_lot_bought_in_the_month_is_matched_to_the_purchase_on_the_months_invoice(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("RCPT-1001", "1200.00", date(2026, 10, 1), date(2027, 10, 1))  # typed 1200, paid 1000
    world.source.set("250.00", date(2026, 10, 5))
    result = _close(world)  # no invoice imported: the purchase is shown, nothing blocks
    assert result.checklist.ready, result.checklist.blockers
    shown = _findings(world)["credit lots bought = purchases on the invoice"]
    assert shown["holds"]
    assert shown["shown_only"]
    assert "RCPT-1001 (1200.00); no invoice of 2026-10 imported" in shown["explanation"]
    world.invoice(
        "INV-10",
        "2026-10",
        "2026-11-03",
        "1000.00",
        [
            ("Credits purchase", "1000.00", "purchase"),
            ("API usage", "250.00", "usage"),
            ("Credits", "-250.00", "credit"),
        ],
    )
    result = _close(world)
    assert result.checklist.reconciliation == [("openai", "org-1", "variance")]
    [blocker] = result.checklist.blockers
    assert "lots bought in 2026-10: RCPT-1001 (1200.00); purchases on the invoice 1000.00" in blocker.what
    world.buy_credits("RCPT-1001", "1000.00", date(2026, 10, 1), date(2027, 10, 1))  # the lot corrected
    result = _close(world)
    assert result.checklist.reconciliation == [("openai", "org-1", "matched")]
    assert result.checklist.ready, result.checklist.blockers
    [line] = result.checklist.prepaid
    assert (line.bought, line.remaining, line.booked) == (
        Decimal("1000.00"),
        Decimal("750.00"),
        Decimal("750.00"),
    )


def test_closing_november_says_its_usage_beyond_the_lots_once_and_nothing_of_december(cli_world):
    cli_world.write("policies.yaml", policies("billing: prepaid"))
    cli_world.run(
        "credits", "add", "--provider", "openai", "--account", "org-1", "--amount", "50.00",
        "--purchased", "2026-11-01", "--lot-id", "RCPT-11",
    )  # fmt: skip
    for day in range(1, 31):  # 10.00 a day: the lot covers five days of November
        cli_world.source.set("10.00", date(2026, 11, day))
    for day in range(1, 10):
        cli_world.source.set("10.00", date(2026, 12, day))
    cli_world.clock.now = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
    said = " ".join(cli_world.run("close", "--period", "2026-11", code=None).output.split())
    [_, beyond] = said.split("Beyond the prepaid lots: ")  # said once, of November only
    assert beyond.startswith(
        "250.00 USD of openai org-1 usage in 2026-11 (on 25 days, 2026-11-06..2026-11-30) is accrued in arrears"
    ), beyond
