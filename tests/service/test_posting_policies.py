"""Posting policies end to end: locked periods (moved or held), posting modes, and the books' currency."""

from datetime import date
from decimal import Decimal

from sqlmodel import select

from connector.domain.journals import JournalKind
from connector.ledgers.port import CurrencySetup
from connector.service.alerts import raise_alerts
from connector.service.sync import sync
from connector.store.tables import AlertRow
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, books_world, policies, pound_world
from tests.support import FULL_MAPPING

EX = JournalKind.EXPIRY_WRITE_OFF


def stored(world, key):
    with UnitOfWork(world.app.engine) as uow:
        return uow.outbox.by_key(ENTITY, key)


def test_an_expiry_dated_in_a_locked_period_posts_on_the_first_open_day_naming_its_period(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("lot-1", "50.00", date(2026, 1, 5), date(2026, 9, 15))
    world.ledger.lock = date(2026, 9, 30)  # September is closed before tokenbooks learns of the lot
    world.night(date(2026, 10, 2))
    [journal] = world.journals(EX)
    assert (journal.txn_date, journal.original_date) == (date(2026, 10, 1), date(2026, 9, 15))
    assert (
        "Moved to 2026-10-01: the books are closed through 2026-09-30; it belongs to 2026-09" in journal.memo
    )
    assert all(j.txn_date > world.ledger.lock for j in world.ledger.journals.values())


def test_with_the_hold_policy_a_journal_for_a_locked_period_waits_and_is_not_planned_twice(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid", locked_period="hold"))
    world.buy_credits("lot-1", "50.00", date(2026, 1, 5), date(2026, 9, 15))
    world.ledger.lock = date(2026, 9, 30)
    result = world.night(date(2026, 10, 2))
    [held] = result.plan.planned
    assert "held by policy until an approver releases it" in held.hold_reason
    assert stored(world, held.journal.key).status == "held"
    assert world.ledger.journals == {}
    assert world.night(date(2026, 10, 3)).plan.planned == []


def test_the_approve_posting_mode_holds_every_journal_until_a_controller_approves(tmp_path):
    world = books_world(tmp_path, policies(posting_mode="approve"))
    world.source.set("42.00", date(2026, 10, 1))
    result = world.night(date(2026, 10, 1))
    [held] = result.plan.planned
    assert held.hold_reason.startswith("posting mode approve")
    assert stored(world, held.journal.key).status == "held"
    assert world.ledger.journals == {}


def test_the_draft_mode_on_a_ledger_without_drafts_keeps_the_draft_in_tokenbooks(tmp_path):
    world = books_world(tmp_path, policies(posting_mode="draft"))
    world.source.set("42.00", date(2026, 10, 1))
    [held] = world.night(date(2026, 10, 1)).plan.planned
    assert "has no draft journals, so this one waits in tokenbooks as a draft" in held.hold_reason
    assert world.ledger.journals == {}


def euro_world(tmp_path, foreign_journals: bool):
    world = books_world(tmp_path)
    (tmp_path / "mapping.yaml").write_text(FULL_MAPPING.replace("currency: USD", "currency: EUR"))
    (tmp_path / "rates.csv").write_text(
        "date,from,to,rate,source\n2026-10-01,USD,EUR,0.9310,ECB 2026-09-30\n2026-10-02,USD,EUR,0.9300,ECB\n"
    )
    world.ledger.currencies = CurrencySetup("EUR", foreign_journals)
    world.rewrite_policies(policies(fx="{source: table, rates_file: rates.csv}"))
    return world


def test_usd_usage_in_euro_books_is_converted_once_per_bucket_at_the_days_rate_and_the_rate_is_kept(tmp_path):
    world = euro_world(tmp_path, foreign_journals=False)
    world.source.set("100.004", date(2026, 10, 1))
    world.source.set("0.002", date(2026, 10, 1), line_item="gpt-4.1, input")
    world.night(date(2026, 10, 1))
    [journal] = world.journals()
    assert journal.currency == "EUR"
    assert sorted(line.amount for line in journal.lines) == [
        Decimal("-93.11"),
        Decimal("93.11"),
    ]  # 100.006 × 0.931
    assert (journal.converted_from, journal.exchange_rate) == ("USD", Decimal("0.9310"))
    assert "Converted from USD at 0.9310 EUR per USD (2026-10-01, ECB 2026-09-30)" in journal.memo
    assert stored(world, journal.key).journal.converted_from == "USD"


def test_with_multicurrency_the_journal_stays_in_dollars_and_carries_the_rate_of_its_date(tmp_path):
    world = euro_world(tmp_path, foreign_journals=True)
    world.source.set("100.00", date(2026, 10, 2))
    world.night(date(2026, 10, 2))
    [journal] = world.journals()
    assert (journal.currency, journal.exchange_rate) == ("USD", Decimal("0.9300"))
    assert "Exchange rate 0.9300 EUR per USD" in journal.memo


def test_a_missing_rate_stops_the_run_before_anything_is_posted_and_says_which_row_to_add(tmp_path):
    world = euro_world(tmp_path, foreign_journals=False)
    world.source.set("100.00", date(2026, 9, 30))
    world.clock.night_after(date(2026, 9, 30))
    result = sync(world.app, entity=ENTITY, until=date(2026, 9, 30))
    assert result.status == "failed"
    assert "no exchange rate from USD to EUR for 2026-09-30" in result.reason
    assert world.ledger.journals == {}


def test_a_month_end_reversal_in_converted_books_is_the_exact_mirror_of_the_accrual_it_reverses(tmp_path):
    world = pound_world(tmp_path, "accrual: month_end_reversing")
    world.source.set("1000.006", date(2026, 10, 30))
    for day in (date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)):
        world.night(day)
    [accrual] = world.journals(JournalKind.USAGE_ACCRUAL)
    [reversal] = world.journals(JournalKind.REVERSAL)
    assert sorted(line.amount for line in accrual.lines) == [Decimal("-780.00"), Decimal("780.00")]
    assert sorted(-line.amount for line in reversal.lines) == sorted(line.amount for line in accrual.lines)
    assert "Converted from USD at 0.7800 GBP per USD (2026-10-01, BoE)" in reversal.memo  # the accrual's rate


def test_with_multicurrency_a_month_end_reversal_carries_the_rate_of_the_accrual_it_reverses(tmp_path):
    world = pound_world(tmp_path, "accrual: month_end_reversing")
    world.ledger.currencies = CurrencySetup("GBP", True)
    world.source.set("1000.00", date(2026, 10, 30))
    for day in (date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)):
        world.night(day)
    [accrual] = world.journals(JournalKind.USAGE_ACCRUAL)
    [reversal] = world.journals(JournalKind.REVERSAL)
    assert (accrual.currency, accrual.exchange_rate) == ("USD", Decimal("0.7800"))
    assert (reversal.currency, reversal.exchange_rate) == ("USD", Decimal("0.7800"))  # not 1 November's


def test_an_invoice_for_a_month_that_has_left_the_plan_window_is_trued_up_against_its_converted_accrual(
    tmp_path,
):
    world = pound_world(tmp_path)
    world.source.set("1000.00", date(2026, 10, 30))
    world.night(date(2026, 10, 30))
    world.night(date(2026, 10, 31))
    for day in range(1, 10):  # October leaves the plan window: the source reads back three days only
        world.night(date(2026, 11, day))
    world.invoice("INV-10", "2026-10", "2026-11-03", "1010.00")
    world.night(date(2026, 11, 10))
    [true_up] = world.journals(JournalKind.TRUE_UP)
    assert sorted(line.amount for line in true_up.lines) == [
        Decimal("-7.80"),
        Decimal("7.80"),
    ]  # 10.00 × 0.78
    assert world.journals(JournalKind.USAGE_ACCRUAL)[0].lines[0].amount == Decimal("780.00")
    assert world.night(date(2026, 11, 11)).plan.planned == []


def test_a_held_journal_raises_one_alert_saying_how_to_approve_it(tmp_path):
    world = books_world(tmp_path, policies(posting_mode="approve"))
    world.source.set("42.00", date(2026, 10, 1))
    [held] = world.night(date(2026, 10, 1)).plan.planned
    raise_alerts(world.app, ENTITY)
    raise_alerts(world.app, ENTITY)  # raised once, not once per run
    with UnitOfWork(world.app.engine) as uow:
        [alert] = [a for a in uow.session.exec(select(AlertRow)) if a.kind == "held_for_approval"]
    assert f"tokenbooks approve {held.journal.key} --by" in alert.action
