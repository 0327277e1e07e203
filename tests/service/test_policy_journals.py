"""The worked examples, end to end through `sync` on fakes: every journal written out as the auditor reads it.

Each test runs the nightly sync over days of provider data, with a policies file, credit lots, credits
sold and invoices as a company would record them; the journals are read back from the outbox and the
balances from the (in-memory) ledger.
"""

from datetime import date
from decimal import Decimal

from connector.domain.credits import CreditLot
from connector.domain.journals import JournalKind
from connector.domain.periods import Period
from connector.service import plan as plan_service
from connector.service.approvals import approve_journal
from connector.service.finance_reports import run_report
from connector.service.imports import record_credit_lot
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, books_world, policies
from tests.support import FULL_MAPPING

AC, PC, EX = JournalKind.USAGE_ACCRUAL, JournalKind.PREPAID_CONSUMPTION, JournalKind.EXPIRY_WRITE_OFF
TU, RV = JournalKind.TRUE_UP, JournalKind.REVERSAL
OCT = [date(2026, 10, d) for d in range(1, 32)]


def test_buy_1000_of_credits_use_250_the_category_is_debited_and_prepaid_falls_to_750(tmp_path, database_url):
    world = books_world(tmp_path, policies("billing: prepaid"), database_url=database_url)
    world.buy_credits("lot-1", "1000.00", date(2026, 10, 1), date(2027, 10, 1))
    world.enter_bill("1350", "1000.00", date(2026, 10, 1))  # AP books the purchase: Dr Prepaid / Cr AP
    world.source.set("250.00", OCT[4])
    world.night(OCT[4])
    assert world.texts() == [
        """\
2026-10-05 TB-PC-261005-001 prepaid_consumption USD
  Dr 5010 (Support Assistant)                       250.00
  Cr 1350                                           250.00"""
    ]
    assert world.ledger.balance("1350") == Decimal("750.00")
    assert world.night(OCT[5]).plan.planned == []  # nothing new: nothing planned


def test_a_lot_that_expires_with_80_unused_is_written_off_on_its_expiry_date_and_prepaid_ends_at_zero(
    tmp_path, database_url
):
    world = books_world(tmp_path, policies("billing: prepaid"), database_url=database_url)
    world.buy_credits("lot-2", "100.00", date(2026, 1, 5), date(2026, 10, 20))
    world.enter_bill("1350", "100.00", date(2026, 1, 5))
    world.source.set("20.00", OCT[5])
    world.night(OCT[5])
    world.night(OCT[18])  # the day before the expiry: nothing to write off yet
    assert world.journals(EX) == []
    world.night(OCT[19])
    assert world.texts(EX) == [
        """\
2026-10-20 TB-EX-261020-001 expiry_write_off USD
  Dr 6195                                            80.00
  Cr 1350                                            80.00"""
    ]
    assert world.ledger.balance("1350") == Decimal("0.00")
    assert world.ledger.balance("6195") == Decimal("80.00")


def test_an_expiry_write_off_memo_names_the_lots_it_writes_off(tmp_path, database_url):
    world = books_world(tmp_path, policies("billing: prepaid"), database_url=database_url)
    world.buy_credits("RCPT-0915", "100.00", date(2026, 1, 5), date(2026, 10, 20))
    world.buy_credits("RCPT-0916", "50.00", date(2026, 1, 6), date(2026, 10, 20))
    world.source.set("20.00", OCT[5])
    world.night(OCT[19])
    [expiry] = world.journals(EX)
    assert expiry.memo.endswith(
        "For lot RCPT-0915 (100.00 USD bought 2026-01-05); lot RCPT-0916 (50.00 USD bought 2026-01-06)"
    ), expiry.memo


def test_usage_beyond_the_lots_is_accrued_in_arrears_and_flagged_in_the_run(tmp_path, database_url):
    world = books_world(tmp_path, policies("billing: prepaid"), database_url=database_url)
    world.buy_credits("lot-3", "100.00", date(2026, 10, 1), date(2027, 10, 1))
    world.source.set("130.00", OCT[2])
    result = world.night(OCT[2])
    assert world.texts() == [
        """\
2026-10-03 TB-PC-261003-001 prepaid_consumption USD
  Dr 5010 (Support Assistant)                       100.00
  Cr 1350                                           100.00""",
        """\
2026-10-03 TB-AC-261003-001 usage_accrual USD
  Dr 5010 (Support Assistant)                        30.00
  Cr 2150                                            30.00""",
    ]
    with UnitOfWork(world.app.engine) as uow:
        [alert] = [e for e in uow.events.for_run(result.run_id) if e.kind == "alert.prepaid_overflow"]
    assert "30.00 USD of openai org-1 usage" in alert.message


def test_an_invoice_3_17_above_the_daily_accruals_is_trued_up_pro_rata_and_the_bill_clears_the_accrual(
    tmp_path, database_url
):
    world = books_world(tmp_path, database_url=database_url)
    for day, support, eng in ((OCT[0], "600.00", "150.00"), (OCT[14], "300.00", "250.00")):
        world.source.set(support, day)
        world.source.set(eng, day, project="proj_eng_tools")
        world.night(day)
    world.night(OCT[30])
    assert world.ledger.balance("2150") == Decimal("-1300.00")  # 900 COGS + 400 R&D accrued
    world.invoice(
        "INV-10",
        "2026-10",
        "2026-11-03",
        "1317.17",
        [("API usage", "1303.17", "usage"), ("Sales tax", "14.00", "tax")],
    )
    world.night(date(2026, 11, 2))  # the invoice is not issued yet on 2 November
    assert world.journals(TU) == []
    world.night(date(2026, 11, 3))
    assert world.texts(TU) == [
        """\
2026-10-31 TB-TU-261031-001 true_up USD
  Dr 5010 (Support Assistant)                         2.19
  Dr 6110                                             0.98
  Cr 2150                                             3.17"""
    ]
    world.enter_bill("2150", "1303.17", date(2026, 11, 3))  # the usage part of the bill: Dr Accrued AI costs
    assert world.ledger.balance("2150") == Decimal("0.00")
    assert world.night(date(2026, 11, 4)).plan.planned == []


def test_a_true_up_beyond_the_tolerance_waits_for_approval(tmp_path, database_url):
    world = books_world(tmp_path, database_url=database_url)
    world.source.set("100.00", OCT[0])
    world.night(OCT[0])
    world.invoice("INV-10", "2026-10", "2026-11-03", "180.00")
    result = world.night(date(2026, 11, 3))
    [held] = [p for p in result.plan.planned if p.journal.kind is TU]
    assert "variance of 80.00, beyond the policy's tolerance of 25.00 USD;" in held.hold_reason
    assert "TB-TU-261031-001" not in world.ledger.journals


def test_a_true_up_approved_after_its_month_was_locked_posts_on_the_first_open_day_as_approved(
    tmp_path, database_url
):
    # the controller approves October's held true-up in December, once October is locked: the ledger
    # refuses it, and the next night must book it on the first open day as approved, not hold it again
    world = books_world(tmp_path, database_url=database_url)
    world.source.set("100.00", OCT[0])
    world.night(OCT[0])
    world.invoice("INV-10", "2026-10", "2026-11-03", "180.00")
    world.night(date(2026, 11, 3))
    world.ledger.lock = date(2026, 11, 30)
    approve_journal(world.app.store, world.clock, entity=ENTITY, key="TB-TU-261031-001", approver="m.chen")
    world.night(date(2026, 12, 2))  # the released journal is refused: its day is locked
    world.night(date(2026, 12, 3))
    [moved] = [j for j in world.journals(TU) if j.txn_date == date(2026, 12, 1)]
    assert moved.memo.endswith("Approved by m.chen as TB-TU-261031-001")
    assert world.ledger.journals[moved.key].txn_date == date(2026, 12, 1)
    assert world.ledger.balance("2150") == Decimal("-180.00")  # accrued 100, trued up by 80
    with UnitOfWork(world.app.engine) as uow:
        assert uow.outbox.list(ENTITY, statuses=["held"]) == []
        [carried] = [e for e in uow.events.of_kind("journal.approved") if e.data["key"] == moved.key]
    assert carried.actor == "m.chen"
    assert world.night(date(2026, 12, 4)).plan.planned == []


def test_month_end_reversing_books_one_accrual_on_31_october_and_its_exact_mirror_on_1_november(
    tmp_path, database_url
):
    world = books_world(tmp_path, policies("accrual: month_end_reversing"), database_url=database_url)
    world.source.set("120.004", OCT[2])
    world.source.set("80.002", OCT[20], project="proj_eng_tools")  # 200.006 in all: 200.01 accrued
    for day in OCT:
        world.night(day)
    assert world.journals() == []  # never future-dated: October has not ended
    world.night(date(2026, 11, 1))
    assert world.texts() == [
        """\
2026-10-31 TB-AC-261031-001 usage_accrual USD
  Dr 5010 (Support Assistant)                       120.01
  Dr 6110                                            80.00
  Cr 2150                                           200.01""",
        """\
2026-11-01 TB-RV-261101-001 reversal USD
  Dr 2150                                           200.01
  Cr 5010 (Support Assistant)                       120.01
  Cr 6110                                            80.00""",
    ]
    assert world.ledger.balance("2150") == 0
    [reversal] = world.journals(JournalKind.REVERSAL)
    assert reversal.memo.endswith(". Reverses TB-AC-261031-001")  # planned in the same run
    assert world.night(date(2026, 11, 2)).plan.planned == []
    world.source.set("130.004", OCT[2])  # the provider restates October: a delta accrual and its mirror
    world.clock.night_after(date(2026, 11, 3))
    assert sync(world.app, entity=ENTITY, since=OCT[0], until=date(2026, 11, 3)).status == "succeeded"
    [_, again] = world.journals(JournalKind.REVERSAL)
    assert again.memo.endswith(". Reverses TB-AC-261031-002")  # the delta, not what the first reversed


def test_the_reversal_of_a_true_up_names_the_true_up_it_reverses_not_the_accrual(tmp_path, database_url):
    world = books_world(tmp_path, policies("accrual: month_end_reversing"), database_url=database_url)
    world.source.set("120.00", OCT[2])
    for day in [*OCT, date(2026, 11, 1)]:  # October accrued on its last day, reversed on 1 November
        world.night(day)
    world.invoice("INV-10", "2026-10", "2026-11-03", "130.00")
    world.night(date(2026, 11, 3))  # the invoice bills 10.00 more: a true-up, and its mirror
    assert [(j.key, j.memo.split(". ", 1)[-1]) for j in world.journals(RV)] == [
        ("TB-RV-261101-001", "Reverses TB-AC-261031-001"),
        ("TB-RV-261101-002", "Reverses TB-TU-261031-001"),
    ]


def test_a_true_up_moved_out_of_a_closed_october_is_named_by_the_reversal_beside_it(tmp_path, database_url):
    world = books_world(tmp_path, policies("accrual: month_end_reversing"), database_url=database_url)
    world.source.set("120.00", OCT[2])
    for day in [*OCT, date(2026, 11, 1)]:
        world.night(day)
    world.ledger.lock = date(2026, 10, 31)  # October is closed before its invoice arrives
    world.invoice("INV-10", "2026-10", "2026-11-03", "130.00")
    world.night(date(2026, 11, 3))  # the true-up moves to 1 November, beside the reversal that mirrors it
    assert [(j.key, str(j.txn_date)) for j in world.journals(TU, RV)][1:] == [
        ("TB-TU-261101-001", "2026-11-01"),  # booked before the reversal that undoes it
        ("TB-RV-261101-002", "2026-11-01"),
    ]
    assert world.journals(RV)[-1].memo.endswith(". Reverses TB-TU-261101-001")


def test_a_month_end_accrual_says_it_is_for_the_month_it_sums_not_its_last_day(tmp_path, database_url):
    world = books_world(tmp_path, policies("accrual: month_end_reversing"), database_url=database_url)
    world.source.set("120.00", OCT[2])
    world.source.set("80.00", OCT[20])
    for day in [*OCT, date(2026, 11, 1)]:
        world.night(day)
    [accrual] = world.journals(AC)
    month = "October 2026 (2026-10-01..2026-10-31)"
    assert (
        accrual.memo
        == f"TB-AC-261031-001 · tokenbooks usage accrual: OpenAI usage accrual for {month}, org-1"
    )
    assert {line.description for line in accrual.lines} == {f"OpenAI usage accrual {month}"}
    assert len(world.ledger.journals["TB-AC-261031-001"].memo) <= 4000  # QBO PrivateNote, Xero Narration


def test_journals_planned_before_memos_named_the_month_are_not_planned_or_posted_again(
    tmp_path, database_url, monkeypatch
):
    world = books_world(tmp_path, policies("accrual: month_end_reversing"), database_url=database_url)
    world.source.set("120.00", OCT[2])
    with monkeypatch.context() as before:  # memos as they were: the bucket's own day
        before.setattr(plan_service, "booked_days", lambda _policies, bucket: [bucket.period])
        for day in [*OCT, date(2026, 11, 1)]:
            world.night(day)
    [accrual] = world.journals(AC)
    assert "usage accrual for 2026-10-31, org-1" in accrual.memo
    posted = dict(world.ledger.journals)
    assert world.night(date(2026, 11, 2)).plan.planned == []  # the new memo changes no journal's content
    assert world.ledger.journals == posted
    assert world.journals(AC) == [accrual]


PROMOTIONAL_ROLE = '  promotional_credits: {quickbooks: "6197"}\n'


def test_usage_promotional_credits_pay_for_is_booked_explicitly_as_no_expense(tmp_path, database_url):
    world = books_world(tmp_path, database_url=database_url)
    capitalized = '  capitalized_software: {quickbooks: "1650"}\n'
    (tmp_path / "mapping.yaml").write_text(FULL_MAPPING.replace(capitalized, capitalized + PROMOTIONAL_ROLE))
    world.rewrite_policies(world.policies_path.read_text())  # a fresh app reads the new mapping
    free = CreditLot(
        "acme-us",
        "openai",
        "org-1",
        "PROMO-1",
        date(2026, 10, 1),
        Decimal("100.00"),
        "USD",
        date(2026, 11, 1),
        promotional=True,
    )
    record_credit_lot(world.app, free)
    world.source.set("30.00", OCT[2])
    world.source.set("90.00", OCT[19])  # only 70.00 of free credit left
    world.night(date(2026, 10, 31))
    assert world.texts(JournalKind.PROMOTIONAL_CREDIT) == [
        """\
2026-10-03 TB-PR-261003-001 promotional_credit USD
  Dr 2150                                            30.00
  Cr 6197                                            30.00""",
        """\
2026-10-20 TB-PR-261020-001 promotional_credit USD
  Dr 2150                                            70.00
  Cr 6197                                            70.00""",
    ]
    world.invoice(
        "INV-10",
        "2026-10",
        "2026-11-03",
        "20.00",
        lines=[("API usage", "120.00", "usage"), ("Free credits", "-100.00", "credit")],
    )
    world.night(date(2026, 11, 3))  # the free lot expired on 1 November: nothing to write off
    assert world.journals(JournalKind.EXPIRY_WRITE_OFF) == []
    assert world.journals(TU) == []  # the invoice bills the usage beyond the credits: nothing to true up
    assert world.ledger.balance("5010") == Decimal("120.00")  # usage by function, as mapped
    assert world.ledger.balance("6197") == Decimal("-100.00")  # what free credit paid for: no expense
    assert world.ledger.balance("2150") == Decimal("-20.00")  # what OpenAI bills: AP's bill clears it
    october = Period(2026, 10)
    spend = run_report(world.app, "spend", entity=ENTITY, first=october, last=october, by="project", day=None)
    assert ("2026-10", "Promotional credits", "USD") in {row.keys for row in spend.rows}
    assert sum(row.figures[0] for row in spend.rows) == Decimal("20.00")  # net of the free credit


def test_an_invoice_imported_weeks_after_its_month_is_trued_up_by_the_next_nightly(tmp_path, database_url):
    """AP forwards September's invoice on 16 November: the nightly window (its bookmark less the lag days)
    plans only November, yet September's true-up is due now, not at the next `close --period 2026-09`
    (the books' inputs hold every invoice of the entity, whatever the window)."""
    world = books_world(tmp_path, database_url=database_url)
    sep = date(2026, 9, 15)
    world.source.set("600.00", sep)
    world.night(sep)
    for day in (date(2026, 9, 30), date(2026, 11, 14), date(2026, 11, 15)):
        world.night(day)
    assert world.journals(TU) == []
    world.invoice("INV-09", "2026-09", "2026-10-03", "604.00")
    world.night(date(2026, 11, 16))
    assert world.texts(TU) == [
        """\
2026-09-30 TB-TU-260930-001 true_up USD
  Dr 5010 (Support Assistant)                         4.00
  Cr 2150                                             4.00"""
    ]
    assert world.night(date(2026, 11, 17)).plan.planned == []
