"""A credit lot recorded in error is voided: kept for the audit trail, drawn no more, and the next sync books
the difference — the usage it paid for drawn from the next lot or accrued beyond the lots, a write-off of
it reversed — without editing a journal, even when its draws are in a month long posted."""

from datetime import UTC, date, datetime
from decimal import Decimal

from connector.domain.journals import JournalKind
from connector.service.imports import import_credit_lots
from connector.service.lot_voids import void_credit_lot
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, BooksWorld, books_world, policies
from tests.service.test_focus_journals import COLUMNS, purchase
from tests.service.test_focus_journals import world as focus_world
from tests.sources.builders import focus_row

AC, PC, EX = JournalKind.USAGE_ACCRUAL, JournalKind.PREPAID_CONSUMPTION, JournalKind.EXPIRY_WRITE_OFF


def _void(world: BooksWorld, lot_id: str, reason: str, day: date):
    world.clock.now = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    return void_credit_lot(world.app, entity=ENTITY, lot_id=lot_id, reason=reason)


def test_a_lot_entered_twice_is_voided_and_the_usage_it_paid_for_is_accrued_beyond_the_lots(
    tmp_path, database_url
):
    world = books_world(tmp_path, policies("billing: prepaid"), database_url=database_url)
    world.buy_credits("RCPT-1", "200.00", date(2026, 10, 1), date(2027, 10, 1))
    world.buy_credits("RCPT-1-again", "200.00", date(2026, 10, 1), date(2027, 10, 1))  # the same receipt
    world.enter_bill("1350", "200.00", date(2026, 10, 1))  # AP booked the one purchase there was
    world.source.set("300.00", date(2026, 10, 5))
    world.night(date(2026, 10, 5))
    world.night(date(2026, 11, 3))  # October posted; the plans have moved on to November
    first = world.texts()
    voided = _void(world, "RCPT-1-again", "entered twice: the same receipt as RCPT-1", date(2026, 11, 4))
    assert voided.new
    result = world.night(date(2026, 11, 4))
    assert world.texts() == [
        *first,
        """\
2026-10-05 TB-PC-261005-002 prepaid_consumption USD
  Dr 1350                                           100.00
  Cr 5010 (Support Assistant)                       100.00""",
        """\
2026-10-05 TB-AC-261005-001 usage_accrual USD
  Dr 5010 (Support Assistant)                       100.00
  Cr 2150                                           100.00""",
    ]
    assert first == [
        """\
2026-10-05 TB-PC-261005-001 prepaid_consumption USD
  Dr 5010 (Support Assistant)                       300.00
  Cr 1350                                           300.00"""
    ]
    assert world.ledger.balance("1350") == Decimal("0.00")  # the 200.00 bought, all used
    assert world.ledger.balance("2150") == Decimal("-100.00")  # the rest: billed in arrears
    with UnitOfWork(world.app.engine) as uow:
        events = uow.events.for_run(result.run_id)
        [audit] = uow.events.of_kind("credits.void")
        [stored] = [lot for lot in uow.credit_lots.for_entity(ENTITY, voided=True) if lot.void]
    [reach] = [e for e in events if e.kind == "facts.reach_back"]
    assert "(lot openai/org-1/RCPT-1-again): planning from 2026-10-01" in reach.message
    assert "100.00 USD of openai org-1 usage (2026-10-05..2026-10-05)" in next(
        e.message for e in events if e.kind == "alert.prepaid_overflow"
    )
    assert (audit.actor, audit.data["reason"]) == (
        stored.void.by,
        "entered twice: the same receipt as RCPT-1",
    )
    assert stored.lot_id == "RCPT-1-again"
    assert world.night(date(2026, 11, 5)).plan.planned == []  # booked once: nothing to plan again


def test_a_voided_lot_s_write_off_is_reversed_and_its_draws_are_accrued(tmp_path, database_url):
    world = books_world(tmp_path, policies("billing: prepaid"), database_url=database_url)
    world.buy_credits("RCPT-9", "100.00", date(2026, 1, 5), date(2026, 10, 20))
    world.source.set("20.00", date(2026, 10, 6))
    world.night(date(2026, 10, 21))
    assert [j.kind for j in world.journals()] == [PC, EX]  # 20.00 drawn, 80.00 written off on 20 October
    _void(world, "RCPT-9", "bought by the parent company, not by us", date(2026, 11, 2))
    world.night(date(2026, 11, 2))
    assert world.texts() == [
        """\
2026-10-06 TB-PC-261006-001 prepaid_consumption USD
  Dr 5010 (Support Assistant)                        20.00
  Cr 1350                                            20.00""",
        """\
2026-10-06 TB-PC-261006-002 prepaid_consumption USD
  Dr 1350                                            20.00
  Cr 5010 (Support Assistant)                        20.00""",
        """\
2026-10-06 TB-AC-261006-001 usage_accrual USD
  Dr 5010 (Support Assistant)                        20.00
  Cr 2150                                            20.00""",
        """\
2026-10-20 TB-EX-261020-001 expiry_write_off USD
  Dr 6195                                            80.00
  Cr 1350                                            80.00""",
        """\
2026-10-20 TB-EX-261020-002 expiry_write_off USD
  Dr 1350                                            80.00
  Cr 6195                                            80.00""",
    ]
    assert world.ledger.balance("6195") == Decimal("0.00")
    assert world.ledger.balance("1350") == Decimal("0.00")


def test_voiding_a_lot_again_changes_nothing(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("RCPT-9", "100.00", date(2026, 10, 5), date(2027, 10, 5))
    first = _void(world, "RCPT-9", "entered in error", date(2026, 10, 6))
    again = _void(world, "RCPT-9", "a second reason", date(2026, 10, 7))
    assert (first.new, again.new, again.void.reason) == (True, False, "entered in error")


def test_a_lot_id_voided_is_never_recorded_again_by_hand(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("RCPT-9", "100.00", date(2026, 10, 5), date(2027, 10, 5))
    _void(world, "RCPT-9", "entered in error", date(2026, 10, 6))
    path = tmp_path / "lots.csv"
    path.write_text(
        "lot_id,provider,account,purchase_date,amount,currency,expires_on\n"
        "RCPT-9,openai,org-1,2026-10-05,100.00,USD,2027-10-05\n"
    )
    report = import_credit_lots(world.app, path, entity=ENTITY)
    [row] = report.quarantined
    assert "was voided" in row.problem.message
    assert "a voided lot stays void" in row.problem.message
    with UnitOfWork(world.app.engine) as uow:
        assert uow.credit_lots.for_entity(ENTITY) == []


def test_a_focus_export_imported_again_without_a_purchase_voids_its_lot_and_with_it_again_restores_it(
    tmp_path, database_url
):
    books = focus_world(tmp_path, database_url)
    day = date(2026, 10, 5)
    bought = purchase("500.00", "sp-x", date(2026, 10, 1), date(2027, 10, 1))
    usage = [focus_row("10.00", day=date(2026, 10, 1)), focus_row("10.00", day=day)]
    books.import_focus([bought, *usage], COLUMNS)
    report = books.import_focus(usage, COLUMNS)  # the provider withdrew the purchase row
    assert report.stored["lots_withdrawn"] == 1
    with UnitOfWork(books.app.engine) as uow:
        [lot] = uow.credit_lots.for_entity(ENTITY, voided=True)
        assert uow.credit_lots.for_entity(ENTITY) == []
    assert lot.void is not None
    assert "withdrawn: the FOCUS export imported again" in lot.void.reason
    report = books.import_focus([bought, *usage], COLUMNS)  # and restored it
    assert any("is in force again" in w for w in report.warnings), report.warnings
    with UnitOfWork(books.app.engine) as uow:
        assert [lot.lot_id for lot in uow.credit_lots.for_entity(ENTITY)] == [lot.lot_id]


def test_a_lot_recorded_after_its_month_was_posted_draws_that_month_s_usage(tmp_path, database_url):
    """The accountant enters in November a lot bought on 1 October, after October was posted (accrued:
    no lot was known). The next sync plans again from the purchase day, as for a void: October's usage is
    drawn from the lot and its accrual taken back, no journal edited."""
    world = books_world(tmp_path, policies("billing: prepaid"), database_url=database_url)
    world.source.set("300.00", date(2026, 10, 5))
    world.night(date(2026, 10, 5))
    world.night(date(2026, 11, 3))  # October posted; the plans have moved on to November
    assert [j.kind for j in world.journals()] == [AC]
    world.buy_credits("RCPT-7", "500.00", date(2026, 10, 1), date(2027, 10, 1))
    result = world.night(date(2026, 11, 4))
    assert world.ledger.balance("2150") == Decimal("0.00")  # October's accrual taken back
    assert world.ledger.balance("1350") == Decimal("-300.00")  # drawn from the lot (bought by AP, not here)
    with UnitOfWork(world.app.engine) as uow:
        events = uow.events.for_run(result.run_id)
    [reach] = [e for e in events if e.kind == "facts.reach_back"]
    assert "(lot openai/org-1/RCPT-7): planning from 2026-10-01" in reach.message
    assert world.night(date(2026, 11, 5)).plan.planned == []  # booked once
    world.buy_credits("RCPT-7", "500.00", date(2026, 10, 1), date(2027, 10, 1))  # entered again, unchanged
    again = world.night(date(2026, 11, 6))
    with UnitOfWork(world.app.engine) as uow:
        assert not [e for e in uow.events.for_run(again.run_id) if e.kind == "facts.reach_back"]
