"""FOCUS commitments, end to end: an export imported, the nightly sync run, every journal written out.

Each case of docs/focus.md ("What each row becomes") with the journals it books: usage a commitment paid
for is booked at its EffectiveCost and draws the commitment's lot, so the prepaid balance falls as it is
used and only the unused remainder is written off at expiry; an hourly commitment fee is expense; a
refund lowers what expires; a subscription's term is amortized; a monthly charge is spread over its days.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector.domain.journals import JournalKind
from connector.domain.periods import Period
from connector.service.close import close_month
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, BooksWorld, books_world
from tests.sources.builders import FOCUS_COMMITMENT_COLUMNS, focus_row
from tests.support import FULL_MAPPING

AC, PC, EX, TU = (
    JournalKind.USAGE_ACCRUAL,
    JournalKind.PREPAID_CONSUMPTION,
    JournalKind.EXPIRY_WRITE_OFF,
    JournalKind.TRUE_UP,
)
COLUMNS = FOCUS_COMMITMENT_COLUMNS
BEDROCK_RULE = """\
  - id: bedrock
    when: {provider: aws}
    category: cogs
"""
OCT1 = date(2026, 10, 1)


def world(tmp_path, database_url) -> BooksWorld:
    booked = books_world(tmp_path, database_url=database_url)
    booked.rewrite_mapping(FULL_MAPPING + BEDROCK_RULE)
    return booked


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def purchase(cost: str, commitment: str, start: date, end: date, frequency="One-Time", **columns) -> dict:
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    finish = datetime(end.year, end.month, end.day, tzinfo=UTC)
    return focus_row(
        cost,
        day=start,
        category="Purchase",
        CommitmentDiscountId=commitment,
        ChargeFrequency=frequency,
        EffectiveCost="0",
        ChargePeriodEnd=stamp(finish),
        ChargePeriodStart=stamp(begin),
        **columns,
    )


def covered(effective: str, commitment: str, day: date, hour: int = 0, status="Used", **columns) -> dict:
    """Usage a commitment paid for: BilledCost 0, its amortized cost in EffectiveCost."""
    return focus_row(
        "0",
        day=day,
        hour=hour,
        EffectiveCost=effective,
        CommitmentDiscountId=commitment,
        CommitmentDiscountStatus=status,
        ChargeFrequency="Usage-Based",
        **columns,
    )


def test_a_200000_token_commitment_used_for_1230_books_1230_of_expense_and_writes_off_only_the_rest(
    tmp_path, database_url
):
    books = world(tmp_path, database_url)
    term_end = date(2027, 10, 1)
    books.import_focus(
        [
            purchase("200000.00", "tokens-2026", OCT1, term_end),
            covered("1230.00", "tokens-2026", date(2026, 10, 5)),
        ],
        COLUMNS,
    )
    books.enter_bill("1350", "200000.00", OCT1)  # AP books the purchase: Dr Prepaid / Cr AP
    books.night(date(2026, 10, 5))
    assert books.texts() == [
        """\
2026-10-05 TB-PC-261005-001 prepaid_consumption USD
  Dr 5010                                          1230.00
  Cr 1350                                          1230.00"""
    ]
    assert books.ledger.balance("1350") == Decimal("198770.00")  # the prepaid balance falls as it is used
    books.night(date(2027, 9, 30))
    assert books.journals(EX) == []  # not before the commitment's term ends
    books.night(term_end)
    assert books.texts(EX) == [
        """\
2027-10-01 TB-EX-271001-001 expiry_write_off USD
  Dr 6195                                        198770.00
  Cr 1350                                        198770.00"""
    ]
    assert books.ledger.balance("1350") == Decimal("0.00")
    assert books.ledger.balance("5010") + books.ledger.balance("6195") == Decimal("200000.00")


def test_an_hourly_commitment_fee_is_expense_of_the_usage_it_pays_for_not_a_lot(tmp_path, database_url):
    books = world(tmp_path, database_url)
    day = date(2026, 10, 3)
    rows = []
    for hour in range(24):  # AWS No Upfront: the hour's fee, and the hour's usage it covers
        start = datetime(2026, 10, 3, hour, tzinfo=UTC)
        fee = purchase("2.00", "sp-1", day, day, frequency="Recurring", InvoiceId="INV-10")
        fee.update(ChargePeriodStart=stamp(start), ChargePeriodEnd=stamp(start + timedelta(hours=1)))
        rows += [fee, covered("2.00", "sp-1", day, hour, InvoiceId="INV-10")]
    report = books.import_focus(rows, COLUMNS)
    assert report.stored["lots_new"] == 0  # no lot per hour
    books.night(day)
    assert books.texts() == [
        """\
2026-10-03 TB-AC-261003-001 usage_accrual USD
  Dr 5010                                            48.00
  Cr 2150                                            48.00"""
    ]
    books.night(date(2026, 11, 1))  # the invoice's fees are the usage accrued: nothing to true up
    assert books.journals(TU) == []
    with UnitOfWork(books.app.engine) as uow:
        assert uow.credit_lots.for_entity("acme-us") == []


def test_partial_upfront_the_fee_is_accrued_and_the_rest_drawn_from_the_upfront_lot(tmp_path, database_url):
    books = world(tmp_path, database_url)
    day = date(2026, 10, 3)
    rows = [purchase("4380.00", "ri-1", OCT1, date(2027, 10, 1))]
    for hour in range(24):
        start = datetime(2026, 10, 3, hour, tzinfo=UTC)
        fee = purchase("0.50", "ri-1", day, day, frequency="Recurring")
        fee.update(ChargePeriodStart=stamp(start), ChargePeriodEnd=stamp(start + timedelta(hours=1)))
        rows += [fee, covered("1.00", "ri-1", day, hour)]  # 0.50 amortized upfront + 0.50 of fee
    books.import_focus(rows, COLUMNS)
    books.night(day)
    assert books.texts() == [
        """\
2026-10-03 TB-PC-261003-001 prepaid_consumption USD
  Dr 5010                                            12.00
  Cr 1350                                            12.00""",
        """\
2026-10-03 TB-AC-261003-001 usage_accrual USD
  Dr 5010                                            12.00
  Cr 2150                                            12.00""",
    ]


def test_a_refund_lowers_the_lot_so_only_what_was_neither_used_nor_refunded_expires(tmp_path, database_url):
    books = world(tmp_path, database_url)
    term_end = date(2027, 1, 1)
    books.import_focus(
        [purchase("1000.00", "c-9", OCT1, term_end), covered("200.00", "c-9", date(2026, 10, 10))], COLUMNS
    )
    refund = purchase("-300.00", "c-9", OCT1, term_end, ChargeClass="Correction")
    refund["BillingPeriodStart"] = "2026-11-01T00:00:00Z"  # on November's bill
    report = books.import_focus([refund], COLUMNS)
    assert report.tally.amounts["accepted"] == {"USD": Decimal("-300.00")}
    assert report.stored["lots_new"] == 1  # a refund lot, stored: the money did not vanish
    with UnitOfWork(books.app.engine) as uow:
        lots = {lot.amount: lot for lot in uow.credit_lots.for_entity("acme-us")}
    assert lots[Decimal("-300.00")].refund_of == lots[Decimal("1000.00")].lot_id
    books.night(term_end)
    assert books.texts(EX) == [
        """\
2027-01-01 TB-EX-270101-001 expiry_write_off USD
  Dr 6195                                           500.00
  Cr 1350                                           500.00"""
    ]


def test_two_purchases_in_one_period_without_a_commitment_id_are_two_lots(tmp_path, database_url):
    books = world(tmp_path, database_url)
    end = OCT1 + timedelta(days=1)
    rows = [
        purchase("1000.00", "", OCT1, end, SkuPriceId="credits-standard"),
        purchase("500.00", "", OCT1, end, SkuPriceId="credits-priority"),
    ]
    report = books.import_focus(rows, COLUMNS)
    assert report.stored["lots_new"] == 2
    with UnitOfWork(books.app.engine) as uow:
        lots = uow.credit_lots.for_entity("acme-us")
    assert sorted(lot.amount for lot in lots) == [Decimal("500.00"), Decimal("1000.00")]
    assert all(lot.lot_id.startswith(("credits-standard@", "credits-priority@")) for lot in lots)


def test_a_subscription_paid_for_a_year_is_amortized_day_by_day_never_ahead_of_the_day(
    tmp_path, database_url
):
    books = world(tmp_path, database_url)
    term_end = date(2027, 10, 1)  # 365 days
    books.import_focus([purchase("3650.00", "", OCT1, term_end, SkuPriceId="saas-annual")], COLUMNS)
    books.night(date(2026, 10, 2))
    assert books.texts() == [
        """\
2026-10-01 TB-PC-261001-001 prepaid_consumption USD
  Dr 5010                                            10.00
  Cr 1350                                            10.00""",
        """\
2026-10-02 TB-PC-261002-001 prepaid_consumption USD
  Dr 5010                                            10.00
  Cr 1350                                            10.00""",
    ]
    books.night(term_end)
    drawn = sum((j.lines[0].amount for j in books.journals(PC)), Decimal(0))
    assert drawn == Decimal("3650.00")  # the whole term, drawn; nothing left to expire
    assert books.journals(EX) == []


def test_a_monthly_usage_charge_is_spread_over_the_days_of_its_month(tmp_path, database_url):
    books = world(tmp_path, database_url)
    charge = focus_row("310.00", day=OCT1, end_hours=24 * 31, quantity="31000")  # 1 Oct – 1 Nov
    books.import_focus([charge], COLUMNS)
    books.night(date(2026, 10, 31))
    journals = books.journals(AC)
    assert [j.txn_date for j in journals] == [OCT1 + timedelta(days=d) for d in range(31)]
    assert {j.lines[0].amount for j in journals} == {Decimal("10.00")}


def test_usage_priced_in_a_virtual_currency_draws_the_credits_bought_in_it(tmp_path, database_url):
    books = world(tmp_path, database_url)
    credits = purchase("10000.00", "", OCT1, date(2027, 10, 1), PricingCurrency="CREDITS")
    usage = covered("250.00", "", date(2026, 10, 4), status="", PricingCurrency="CREDITS")
    books.import_focus([credits, usage], COLUMNS)
    books.night(date(2026, 10, 4))
    assert books.texts() == [
        """\
2026-10-04 TB-PC-261004-001 prepaid_consumption USD
  Dr 5010                                           250.00
  Cr 1350                                           250.00"""
    ]


def test_usage_a_commitment_paid_for_whose_purchase_was_never_imported_is_accrued_and_flagged(
    tmp_path, database_url
):
    books = world(tmp_path, database_url)
    books.import_focus([covered("80.00", "sp-unknown", date(2026, 10, 6))], COLUMNS)
    result = books.night(date(2026, 10, 6))
    assert books.texts() == [
        """\
2026-10-06 TB-AC-261006-001 usage_accrual USD
  Dr 5010                                            80.00
  Cr 2150                                            80.00"""
    ]
    with UnitOfWork(books.app.engine) as uow:
        [alert] = [e for e in uow.events.for_run(result.run_id) if e.kind == "alert.prepaid_overflow"]
    assert "paid for by commitment:sp-unknown" in alert.message
    assert "Import the FOCUS export that holds the Purchase row of commitment:sp-unknown" in alert.message


def test_a_month_with_a_commitment_bought_and_drawn_reconciles_to_its_invoice(tmp_path, database_url):
    """AWS bills a Savings Plan bought up front on the invoice of the month it is bought (a Purchase row,
    BilledCost 12,000), and the usage it covers at BilledCost 0 (its EffectiveCost is what tokenbooks
    books, drawn from the lot). The invoice is not the cost: it holds the purchase (an asset AP books) and
    not the drawn usage. Both are explained, so the month closes matched, and so does the next one, whose
    invoice bills only the usage beyond the commitment."""
    books = world(tmp_path, database_url)
    term_end = date(2027, 10, 1)
    on_demand = {"ChargeFrequency": "Usage-Based"}
    books.import_focus(
        [
            purchase("12000.00", "sp-2026", OCT1, term_end, InvoiceId="INV-10"),
            covered("1230.00", "sp-2026", date(2026, 10, 5), InvoiceId="INV-10"),
            focus_row("100.00", day=date(2026, 10, 6), InvoiceId="INV-10", **on_demand),
        ],
        COLUMNS,
    )
    books.enter_bill("1350", "12000.00", OCT1)  # AP books the purchase: Dr Prepaid / Cr AP
    books.night(date(2026, 10, 31))
    books.clock.now = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
    october = close_month(books.app, entity=ENTITY, period=Period(2026, 10))
    assert october.checklist.reconciliation == [("aws", "123456789012", "matched")]
    [line] = october.checklist.accruals
    assert (line.accrued, line.invoiced) == (Decimal("100.00"), Decimal("100.00"))  # no true-up
    assert books.journals(TU) == []
    [result] = reconciled(books, "2026-10")
    assert dict(result.explained) == {
        "prepaid purchases on the invoice (an asset, drawn as used)": Decimal("12000.00"),
        "usage a commitment bought earlier paid for (billed when bought)": Decimal("-1230.00"),
    }
    assert result.unexplained == 0

    books.import_focus(
        [
            covered("500.00", "sp-2026", date(2026, 11, 3), InvoiceId="INV-11"),
            focus_row("40.00", day=date(2026, 11, 9), InvoiceId="INV-11", **on_demand),
        ],
        COLUMNS,
    )
    books.night(date(2026, 11, 30))
    books.clock.now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    november = close_month(books.app, entity=ENTITY, period=Period(2026, 11))
    assert november.checklist.reconciliation == [("aws", "123456789012", "matched")]
    assert books.ledger.balance("1350") == Decimal("10270.00")  # 12,000 − 1,230 − 500 drawn


def reconciled(books: BooksWorld, period: str, ledger=None) -> list:
    from connector.service.reconcile import reconcile_period
    from connector.service.runs import RunRecorder

    recorder = RunRecorder(
        books.app.store, books.clock, actor="test", kind="reconcile", entity=ENTITY, params={}
    )
    return reconcile_period(
        books.app.store,
        mapping=books.app.mapping()[0],
        entity=ENTITY,
        period=Period.parse(period),
        ledger=ledger,
        recorder=recorder,
        clock=books.clock,
    )


def test_an_invoice_total_that_may_hold_a_commitment_bought_is_held_with_the_warning(tmp_path, database_url):
    """The invoice arrives as a total without lines (the invoice inbox), in the month a commitment was
    bought: 12,100 against 100 accrued. Releasing the true-up would book the purchase a second time, as
    expense (AP booked it to prepaid): it is held, and the approver is told why not to release it."""
    import json

    from connector.service.imports import import_invoices

    books = world(tmp_path, database_url)
    books.import_focus(
        [
            purchase("12000.00", "sp-2026", OCT1, date(2027, 10, 1)),
            focus_row("100.00", day=date(2026, 10, 6), ChargeFrequency="Usage-Based"),
        ],
        COLUMNS,
    )
    invoice = {
        "provider": "aws",
        "account": "123456789012",
        "number": "INV-10",
        "period": "2026-10",
        "issue_date": "2026-11-03",
        "total": "12100.00",
        "currency": "USD",
    }
    path = tmp_path / "aws-invoice.json"
    path.write_text(json.dumps({"invoices": [invoice]}))
    import_invoices(books.app, path, entity=ENTITY)
    books.night(date(2026, 11, 3))
    with UnitOfWork(books.app.engine) as uow:
        [held] = [s for s in uow.outbox.list(ENTITY, statuses=["held"]) if s.journal.kind is TU]
    assert "bills 12100.00 of usage against 100.00 accrued" in held.hold_reason
    assert "12000.00 of commitments was bought in 2026-10 (commitment:sp-2026)" in held.hold_reason
    assert "do not release this true-up" in held.hold_reason


def october_invoiced_to_a_fraction_of_a_cent(tmp_path, database_url) -> BooksWorld:
    """6 October's 12.345678 and 7 October's 20.763333 on INV-10 (33.109011), booked through 1 November."""
    books = world(tmp_path, database_url)
    on_demand = {"ChargeFrequency": "Usage-Based", "InvoiceId": "INV-10"}
    books.import_focus(
        [
            focus_row("12.345678", day=date(2026, 10, 6), **on_demand),
            focus_row("20.763333", day=date(2026, 10, 7), **on_demand),
        ],
        COLUMNS,
    )
    books.night(date(2026, 11, 1))
    return books


def test_an_export_whose_invoice_sums_to_a_fraction_of_a_cent_closes_its_month_without_a_true_up(
    tmp_path, database_url
):
    """AWS bills in cents, but a FOCUS export's Σ BilledCost per InvoiceId keeps the provider's precision:
    6 October's 12.345678 and 7 October's 20.763333 make an invoice of 33.109011, against 33.11 accrued
    (each day's bucket rounded once). The first night after the month is not an internal error
    (MoneyError: -0.000989 is not a whole number of 0.01): the bill rounds to 33.11, nothing to true up."""
    books = october_invoiced_to_a_fraction_of_a_cent(tmp_path, database_url)
    assert books.journals(TU) == []
    assert books.ledger.balance("2150") == Decimal("-33.11")
    with books.app.store.unit_of_work() as uow:  # rounded once, where the export's invoice is summed
        [invoice] = uow.invoices.for_period(ENTITY, "2026-10")
    assert (invoice.total, [line["amount"] for line in invoice.lines]) == (Decimal("33.11"), ["33.11"])


def test_a_row_restated_in_an_export_imported_after_the_invoice_date_is_on_the_invoice_it_sums(
    tmp_path, database_url
):
    """The October export, imported on 21 October, says 6 October cost 100.00; AWS restates it to 101.30
    and the export imported again on 2 November (after the invoice's issue date, 1 November) says so —
    and sums INV-10 to 101.30 from the same rows. Reconcile read the restatement as "usage reported after
    the invoice was issued −1.30" and 1.30 unexplained, beyond the tolerance (status variance): the
    invoice a FOCUS export sums moves with its rows, so nothing was reported after it."""
    books = world(tmp_path, database_url)
    on_demand = {"ChargeFrequency": "Usage-Based", "InvoiceId": "INV-10"}
    books.clock.now = datetime(2026, 10, 21, 7, 0, tzinfo=UTC)
    books.import_focus([focus_row("100.00", day=date(2026, 10, 6), **on_demand)], COLUMNS)
    books.night(date(2026, 10, 31))
    books.clock.now = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    books.import_focus([focus_row("101.30", day=date(2026, 10, 6), **on_demand)], COLUMNS)
    books.night(date(2026, 11, 2))
    [result] = reconciled(books, "2026-10")
    assert (result.input.invoice_total, result.provider_cost) == (Decimal("101.30"), Decimal("101.30"))
    assert result.explained == ()
    assert (result.unexplained, result.status.value) == (Decimal("0.00"), "matched")


def test_an_export_invoice_of_a_fraction_of_a_cent_reconciles_matched_to_its_cost(tmp_path, database_url):
    """INV-10 sums to 33.109011 (the export's precision), the cost rounds to 33.11: the bill is 33.11,
    matched — not an "invoice = provider cost" failing by −0.000989 with "−0.00 unexplained"."""
    books = october_invoiced_to_a_fraction_of_a_cent(tmp_path, database_url)
    [result] = reconciled(books, "2026-10")
    assert result.input.invoice_total == Decimal("33.11")
    assert (result.unexplained, result.status.value) == (Decimal("0.00"), "matched")
    assert all(f.holds for f in result.findings)


def september_imported_in_november(tmp_path, database_url, *, locked: bool) -> BooksWorld:
    """OpenAI usage booked night by night through 7 November (October closed with September locked, or
    not); on 8 November the AWS export of September arrives: 10 September's 120.004 and 22 September's
    80.454 of Bedrock on INV-09 (usage 200.458, which AWS bills as 200.46), and 16.04 of tax."""
    books = world(tmp_path, database_url)
    books.source.set("42.00", date(2026, 10, 20))
    books.night(date(2026, 10, 20))
    books.night(date(2026, 10, 31))
    if locked:
        books.ledger.lock = date(2026, 9, 30)  # September closed during October's close
    books.source.set("7.25", date(2026, 11, 6))
    books.night(date(2026, 11, 7))
    books.clock.now = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)
    books.import_focus(september_export(), COLUMNS)
    return books


def september_export() -> list[dict]:
    sept = {"ChargeFrequency": "Usage-Based", "InvoiceId": "INV-09"}
    return [
        focus_row("120.004", day=date(2026, 9, 10), hour=12, **sept),
        focus_row("80.454", day=date(2026, 9, 22), hour=12, **sept),
        focus_row("16.04", day=date(2026, 9, 30), hour=12, category="Tax", **sept),
    ]


def focus_reach_backs(books: BooksWorld, run_id: str) -> list[str]:
    with UnitOfWork(books.app.engine) as uow:
        return [e.message for e in uow.events.for_run(run_id) if e.kind == "facts.reach_back"]


def test_a_september_export_imported_in_november_is_accrued_by_the_next_nightly_not_trued_up_whole(
    tmp_path, database_url
):
    """The nightly plans from its pull window (5 November on): September's facts, imported on 8 November,
    were never accrued, and the true-up of INV-09 booked its whole 200.46 to suspense ("nothing was
    accrued"). The import leaves the day it changed from; the nightly plans from it: September's usage is
    accrued (moved to 1 October, September being closed) and the true-up is INV-09's 200.46 less the
    200.45 accrued (each day's bucket rounded once). A dry run before it books nothing and leaves the mark;
    the next nightly books nothing."""
    from connector.service.sync import sync

    books = september_imported_in_november(tmp_path, database_url, locked=True)
    before = books.texts()
    assert [j.key for j in books.journals()] == ["TB-AC-261020-001", "TB-AC-261106-001"]
    books.clock.night_after(date(2026, 11, 8))
    dry = sync(books.app, entity=ENTITY, until=date(2026, 11, 8), dry_run=True)
    assert len(dry.plan.planned) == 2
    assert books.texts() == before
    result = books.night(date(2026, 11, 8))
    booked = [text for text in books.texts() if text not in before]
    assert booked == [
        """\
2026-10-01 TB-TU-261001-001 true_up USD
  Dr 5010                                             0.01
  Cr 2150                                             0.01""",
        """\
2026-10-01 TB-AC-261001-001 usage_accrual USD
  Dr 5010                                           200.45
  Cr 2150                                           200.45""",
    ]
    [accrual] = [j for j in books.journals(AC) if j.key == "TB-AC-261001-001"]
    assert "usage accrual for 2026-09-10..2026-09-22" in accrual.memo
    assert (
        "Moved to 2026-10-01: the books are closed through 2026-09-30; it belongs to 2026-09" in accrual.memo
    )
    assert focus_reach_backs(books, result.run_id) == [
        "facts or credit lots of 2026-09-10 on were stored, restated, withdrawn, recorded or voided since the "
        "last plan (an import or a pull): planning from 2026-09-10"
    ]
    assert books.ledger.balance("2150") == Decimal("-249.71")  # 42.00 + 7.25 + 200.45 + 0.01
    again = books.night(date(2026, 11, 9))
    assert again.plan.planned == []
    assert focus_reach_backs(books, again.run_id) == []
    books.import_focus(september_export(), COLUMNS)  # the same export again: no fact changes
    third = books.night(date(2026, 11, 10))
    assert third.plan.planned == []
    assert focus_reach_backs(books, third.run_id) == []


def test_a_september_export_imported_in_november_into_open_books_is_accrued_on_its_days(
    tmp_path, database_url
):
    """September still open: its usage is accrued on the days it was used, the 0.01 true-up on the last
    day of the invoice's month."""
    books = september_imported_in_november(tmp_path, database_url, locked=False)
    before = books.texts()
    books.night(date(2026, 11, 8))
    assert [text for text in books.texts() if text not in before] == [
        """\
2026-09-10 TB-AC-260910-001 usage_accrual USD
  Dr 5010                                           120.00
  Cr 2150                                           120.00""",
        """\
2026-09-22 TB-AC-260922-001 usage_accrual USD
  Dr 5010                                            80.45
  Cr 2150                                            80.45""",
        """\
2026-09-30 TB-TU-260930-001 true_up USD
  Dr 5010                                             0.01
  Cr 2150                                             0.01""",
    ]
    assert books.night(date(2026, 11, 9)).plan.planned == []


def october_with_credit_and_tax(tmp_path, database_url, itemized: bool) -> list:
    """A Bedrock month: 100.00 of usage, a 20.00 promotional credit and 8.00 of tax, as a FOCUS export
    holds them (one InvoiceId: the invoice's lines), or with the bill entered as its total alone."""
    from connector.domain.invoices import Invoice
    from connector.service.invoices import store_invoices

    books = world(tmp_path, database_url)
    invoice_id = {"InvoiceId": "INV-10"} if itemized else {}
    rows = [
        focus_row("100.00", day=date(2026, 10, 10), hour=12, **invoice_id),
        focus_row("-20.00", day=date(2026, 10, 10), hour=12, category="Credit", **invoice_id),
        focus_row("8.00", day=date(2026, 10, 10), hour=12, category="Tax", **invoice_id),
    ]
    books.clock.now = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
    books.import_focus(rows, COLUMNS)
    books.night(date(2026, 11, 2))
    if not itemized:
        total = Invoice(
            ENTITY,
            "aws",
            "123456789012",
            "EUINUS26-10",
            "2026-10",
            date(2026, 11, 2),
            Decimal("88.00"),
            "USD",
        )
        store_invoices(books.app.store, [total], source="test", clock=books.clock)
    books.night(date(2026, 11, 3))  # the true-up: the invoice, net, against the usage accrued
    return reconciled(books, "2026-10", books.ledger)


@pytest.mark.parametrize("itemized", [True, False], ids=["invoice-lines", "invoice-total"])
def test_credits_and_tax_in_the_export_are_explained_not_called_rounding(tmp_path, database_url, itemized):
    """An export's Credit and Tax rows are never accrued (usage only), yet the reconciliation counted them
    in the provider cost: 12.00 between posted usage and that cost was called "rounding: each posting
    bucket is rounded to the cent once", and the invoice of 88.00 left "+12.00 USD unexplained" (a
    Vertex month nightly: 36.37 of free-tier credits called rounding). The cost is the usage the accruals
    book; the credits and tax explain the invoice, as its lines itemize them or, for an invoice entered
    as its total, as the provider's data holds them (that invoice's true-up, -12.00, counts them as usage:
    they are not explained twice)."""
    from connector.domain.reconcile import ReconStatus

    [result] = october_with_credit_and_tax(tmp_path, database_url, itemized)
    assert (result.provider_cost, result.input.accrued_total) == (Decimal("100.00"), Decimal("100.00"))
    [posted] = [f for f in result.findings if f.check == "posted = provider cost (rounded per bucket)"]
    assert posted.holds
    assert "rounding" not in posted.explanation
    where = "on the invoice" if itemized else "in the provider's cost data"
    assert dict(result.explained) == {f"tax {where}": Decimal("8.00"), f"credits {where}": Decimal("-20.00")}
    assert (result.unexplained, result.status) == (Decimal("0.00"), ReconStatus.MATCHED)
    assert result.coverage == Decimal("1.0000")  # what the provider's data bills against the invoice
    assert result.input.true_up_total == (Decimal(0) if itemized else Decimal("-12.00"))
