"""`close`: the period's remaining journals booked and posted, then the checklist a controller signs off."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connector.domain.errors import InputError
from connector.domain.journals import JournalKind
from connector.domain.periods import Period
from connector.service.close import close_month
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, books_world, policies

OCTOBER = Period(2026, 10)


def test_close_books_the_reversing_accrual_and_lists_what_is_accrued_and_not_yet_invoiced(tmp_path):
    world = books_world(tmp_path, policies("accrual: month_end_reversing"))
    world.source.set("120.00", date(2026, 10, 3))
    world.source.set("80.00", date(2026, 10, 21), project="proj_eng_tools")
    world.night(date(2026, 10, 31))
    assert world.journals() == []
    world.clock.now = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    result = close_month(world.app, entity=ENTITY, period=OCTOBER)
    assert result.status == "succeeded", result.reason
    assert [j.kind for j in world.journals()] == [JournalKind.USAGE_ACCRUAL, JournalKind.REVERSAL]
    assert sorted(result.sync.post.posted) == ["TB-AC-261031-001", "TB-RV-261101-001"]
    [line] = result.checklist.accruals
    assert (line.accrued, line.reversed, line.invoiced, line.not_invoiced) == (
        Decimal("200.00"),
        Decimal("-200.00"),
        None,
        Decimal("200.00"),
    )
    assert result.checklist.reconciliation == [("openai", "org-1", "missing_invoice")]
    assert not result.checklist.ready
    with UnitOfWork(world.app.engine) as uow:
        run = uow.runs.get(result.run_id)
    assert (run.kind, run.status, run.stats["sync_run"]) == ("close", "succeeded", result.sync.run_id)


def test_close_lists_prepaid_lots_expiring_soon_deferred_revenue_suspense_and_held_journals(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid", posting_mode="approve"))
    world.buy_credits("lot-1", "300.00", date(2026, 9, 1), date(2026, 11, 20))
    world.buy_credits("lot-2", "500.00", date(2026, 9, 1), date(2027, 9, 1))
    world.customer_credits(
        "s-1,globex,g-1,purchase,2026-10-01,1000.00,USD,api-credits,2027-10-01",
        "r-1,globex,g-1,redemption,2026-10-15,460.00,USD,api-credits,",
    )
    world.source.set("100.00", date(2026, 10, 2))
    world.source.set("7.50", date(2026, 10, 2), project="proj_nobody_mapped")
    world.clock.now = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    result = close_month(world.app, entity=ENTITY, period=OCTOBER)
    checklist = result.checklist
    assert [(lot.lot_id, lot.used, lot.balance, lot.expires_within) for lot in checklist.lots] == [
        ("lot-1", Decimal("107.50"), Decimal("192.50"), 30),
        ("lot-2", Decimal("0"), Decimal("500.00"), None),
    ]
    [grant] = checklist.deferred
    # 8 % expected breakage: 80 × 460 / 920 = 40.00 recognized with the redemptions
    assert (grant.customer, grant.revenue, grant.breakage, grant.deferred) == (
        "globex",
        Decimal("460.00"),
        Decimal("40.00"),
        Decimal("500.00"),
    )
    assert checklist.suspense == {"USD": Decimal("7.50")}
    assert {h.kind for h in checklist.held} == {"prepaid_consumption", "revenue", "breakage"}
    assert all(h.reason.startswith("posting mode approve") for h in checklist.held)


def test_a_journal_held_for_a_later_month_does_not_keep_the_closed_month_open(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid", posting_mode="approve"))
    world.buy_credits("lot-1", "900.00", date(2026, 9, 1), date(2027, 9, 1))
    world.source.set("100.00", date(2026, 10, 2))
    world.source.set("40.00", date(2026, 11, 5))
    world.night(date(2026, 10, 31))
    world.night(date(2026, 11, 30))
    held_everywhere = {j.txn_date.month for j in world.journals()}
    assert held_everywhere == {10, 11}  # both months wait for approval
    world.clock.now = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    checklist = close_month(world.app, entity=ENTITY, period=OCTOBER).checklist
    assert checklist.held
    assert {h.txn_date.month for h in checklist.held} == {10}
    assert not checklist.ready


def test_a_period_that_has_not_ended_cannot_be_closed(tmp_path):
    world = books_world(tmp_path)
    world.clock.now = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # 19:00 on 31 October in New York
    with pytest.raises(InputError, match="2026-10 has not ended for acme-us"):
        close_month(world.app, entity=ENTITY, period=OCTOBER)


def test_the_reconciliation_of_a_reversing_month_rounds_as_the_policy_buckets(tmp_path):
    world = books_world(tmp_path, policies("accrual: month_end_reversing"))
    for day in (3, 4, 5):
        world.source.set("10.004", date(2026, 10, day))  # 30.012: 30.01 a month, 30.00 as three days
    world.night(date(2026, 10, 31))  # pulled before the invoice was issued
    world.invoice("INV-10", "2026-10", "2026-11-02", "30.01")
    world.clock.now = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    result = close_month(world.app, entity=ENTITY, period=OCTOBER)
    assert result.checklist.reconciliation == [("openai", "org-1", "matched")]
    assert result.checklist.ready


def test_a_day_a_source_refused_is_named_by_the_checklist_until_its_rows_are_corrected(tmp_path):
    """Month-end with a bad row in the provider's data: the night's pull stores every other day (a
    restatement of the 3rd included), the refused day keeps what an earlier night stored, the accrual is
    booked from that, and the close says which day is stale and why, until a run reads it corrected."""
    world = books_world(tmp_path, policies("accrual: month_end_reversing"))
    oct3, oct21 = date(2026, 10, 3), date(2026, 10, 21)
    world.source.set("120.00", oct3)
    world.source.set("80.00", oct21, project="proj_eng_tools")
    world.night(date(2026, 10, 31))

    world.source.set("130.00", oct3)  # restated, and good
    world.source.set("95.00", oct21, project="proj_eng_tools")  # restated, but a row of the 21st is bad
    world.source.refused = {oct21: "'$95.00' is not a plain decimal"}
    world.clock.now = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    result = close_month(world.app, entity=ENTITY, period=OCTOBER)
    assert (result.status, result.sync.status) == ("partial", "partial")
    assert "openai.costs: 1 day(s) refused" in result.sync.reason
    assert "2026-10-21" in result.sync.reason
    [line] = result.checklist.accruals
    assert line.accrued == Decimal("210.00")  # 130.00 of the 3rd, and the 21st as stored before: 80.00
    [refused] = result.checklist.refused
    assert (refused.source, refused.first_day, refused.last_day, refused.days) == (
        "openai.costs:org-1",
        oct21,
        oct21,
        1,
    )
    assert "$95.00" in refused.error
    [blocker] = [b for b in result.checklist.blockers if "refused" in b.what]
    assert blocker.what.startswith("openai.costs:org-1: 1 day(s) of 2026-10 (2026-10-21..2026-10-21)")
    assert not result.checklist.ready
    with UnitOfWork(world.app.engine) as uow:
        [mark] = uow.bookmarks.all()
    assert (mark.value, mark.refused_days) == ("2026-10-20", (oct21,))  # the next run reads the 21st again

    world.source.refused = {}  # the provider corrected the row
    world.clock.now = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
    again = close_month(world.app, entity=ENTITY, period=OCTOBER)
    assert again.sync.status == "succeeded", again.sync.reason
    assert again.checklist.refused == []
    [line] = again.checklist.accruals
    assert line.accrued == Decimal("225.00")  # the 21st's 95.00 now
    with UnitOfWork(world.app.engine) as uow:
        [mark] = uow.bookmarks.all()
    assert (mark.refused_days, mark.last_error) == ((), None)


def test_the_close_of_a_locked_month_shows_a_lower_invoices_true_up_booked_later_as_a_credit(cli_world):
    """October is locked in the ledger; its invoice, issued 3 November, bills 2.87 less than accrued: the
    true-up booked on 1 November credits the expense. The close of October says so (it read "true_up 2.87
    USD", a debit to anyone reading it), in words and in JSON, signed."""
    for day, amount in ((1, "10.00"), (2, "20.00"), (3, "30.00")):
        cli_world.source.set(amount, date(2026, 10, day))
    cli_world.night(date(2026, 10, 31))
    cli_world.ledger.lock = date(2026, 10, 31)
    cli_world.invoice("INV-10", "2026-10", "2026-11-03", "57.13")
    cli_world.night(date(2026, 11, 3))

    printed = cli_world.run("close", "--period", "2026-10", code=None)
    assert (
        "TB-TU-261101-001 on 2026-11-01: true_up, credit 2.87 USD to the expense, belongs to 2026-10-31"
        in (" ".join(printed.stdout.split()))
    )
    body = cli_world.json("close", "--period", "2026-10", code=None)
    [later] = body["booked_later"]
    assert (later["key"], later["amount"], later["side"], later["booked_to"]) == (
        "TB-TU-261101-001",
        "-2.87",
        "credit",
        "the expense",
    )
    assert later["entry"] == "credit 2.87 USD to the expense"
