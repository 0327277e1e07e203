"""Reconciliation on fakes: provider cost ↔ invoice ↔ posted ↔ ledger, with drift found and repaired."""

from datetime import UTC, date, datetime
from decimal import Decimal

from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.periods import Period
from connector.domain.reconcile import ReconStatus, Tolerance
from connector.service.invoices import store_invoices
from connector.service.reconcile import reconcile_period, reconcile_run
from connector.service.runs import RunRecorder
from connector.service.sync import sync
from connector.settings import ToleranceSettings
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World

OCT = Period(2026, 10)


def run_month(world: World, amounts: dict[int, str]) -> None:
    for day, amount in amounts.items():
        world.source.set(amount, date(2026, 10, day))
    world.clock.night_after(date(2026, 10, 31))
    assert sync(world.app, entity="acme-us", until=date(2026, 10, 31)).status == "succeeded"


def invoice(world: World, total: str) -> None:
    store_invoices(
        world.app.store,
        [Invoice("acme-us", "openai", "org-1", "INV-1", "2026-10", date(2026, 11, 3), Decimal(total), "USD")],
        source="test",
        clock=world.clock,
    )


def reconcile(world: World, ledger=True):
    recorder = RunRecorder(
        world.app.store, world.clock, actor="test", kind="reconcile", entity="acme-us", params={}
    )
    [result] = reconcile_period(
        world.app.store,
        mapping=world.app.mapping()[0],
        entity="acme-us",
        period=OCT,
        ledger=world.ledger if ledger else None,
        recorder=recorder,
        clock=world.clock,
    )
    return result


def test_a_month_that_agrees_everywhere_is_matched_and_rounding_is_explained(world: World):
    run_month(world, {1: "10.004", 2: "10.004", 3: "10.004"})  # exact 30.012; per-day rounding posts 30.00
    invoice(world, "30.01")
    result = reconcile(world)
    assert result.status is ReconStatus.MATCHED
    assert result.provider_cost == Decimal("30.01")
    assert result.input.posted_total == Decimal("30.00")
    assert result.input.ledger_total == Decimal("30.00")
    assert result.coverage == Decimal("1.0000")
    [posted_check] = [f for f in result.findings if f.check.startswith("posted")]
    assert "rounding" in posted_check.explanation
    assert "-0.01" in posted_check.explanation


def test_an_invoice_equal_to_the_cost_still_matches_once_its_true_up_takes_the_rounding_back(world: World):
    """The month closed with daily accruals rounded per day (30.00 for an exact 30.012); the invoice bills
    the cost (30.01) and the next nightly trues the accrual up by +0.01. The invoice is the provider's cost
    to the cent: nothing is unexplained, the month is matched, not "within tolerance" of a variance."""
    run_month(world, {1: "10.004", 2: "10.004", 3: "10.004"})
    invoice(world, "30.01")
    world.clock.night_after(date(2026, 11, 3))
    assert sync(world.app, entity="acme-us", until=date(2026, 11, 3)).status == "succeeded"
    result = reconcile(world)
    assert result.input.true_up_total == Decimal("0.01")
    assert result.input.posted_total == Decimal("30.01")
    assert result.unexplained == 0
    [check] = [f for f in result.findings if f.check == "invoice = provider cost"]
    assert check.holds, check.explanation
    assert result.status is ReconStatus.MATCHED
    assert dict(result.explained) == {
        "booked as an invoice true-up": Decimal("0.01"),
        "rounding of the accrued buckets, which the true-up takes back": Decimal("-0.01"),
    }


def test_no_invoice_yet_is_reported_as_missing(world: World):
    run_month(world, {1: "5.00"})
    assert reconcile(world).status is ReconStatus.MISSING_INVOICE


def test_an_invoice_beyond_tolerance_is_a_variance_with_a_reason_to_look_for(world: World):
    run_month(world, {1: "100.00"})
    invoice(world, "125.00")
    result = reconcile(world)
    assert result.status is ReconStatus.VARIANCE
    [check] = [f for f in result.findings if f.check == "invoice = provider cost"]
    assert check.difference == Decimal("25.00")
    assert "tax" in check.explanation


def test_a_journal_deleted_in_the_ledger_is_drift_by_key_and_the_next_sync_posts_exactly_it(world: World):
    run_month(world, {1: "10.00", 2: "20.00"})
    invoice(world, "30.00")
    del world.ledger.journals["TB-AC-261002-001"]  # someone deletes it by hand
    result = reconcile(world)
    assert result.status is ReconStatus.DRIFT
    assert result.input.drifted_keys == ("TB-AC-261002-001 (missing)",)
    again = sync(world.app, entity="acme-us", until=date(2026, 10, 31))
    assert again.post.posted == ["TB-AC-261002-001"]
    assert sorted(world.ledger.journals) == ["TB-AC-261001-001", "TB-AC-261002-001"]
    assert reconcile(world).status is ReconStatus.MATCHED


def test_a_journal_edited_by_hand_is_drift_but_left_alone(world: World):
    run_month(world, {1: "10.00"})
    invoice(world, "10.00")
    from dataclasses import replace

    from connector.ledgers.port import LedgerLine

    held = world.ledger.journals["TB-AC-261001-001"]
    world.ledger.journals[held.key] = replace(
        held,
        lines=(
            LedgerLine("5010", Decimal("12.00"), tracking=("class=Support Assistant",)),
            LedgerLine("2150", Decimal("-12.00")),
        ),
    )
    result = reconcile(world)
    assert result.status is ReconStatus.DRIFT
    assert result.input.drifted_keys == (
        "TB-AC-261001-001 (changed: line 1 on 5010 AI COGS (class: Support Assistant) changed from debit 10.00 "
        "to debit 12.00; line 2 on 2150 Accrued AI costs changed from credit 10.00 to credit 12.00)",
    )
    assert sync(world.app, entity="acme-us", until=date(2026, 10, 31)).post.posted == []


def test_a_line_moved_by_hand_to_another_account_with_the_same_amount_is_drift_saying_where(world: World):
    """An accountant moves the expense line to G&A in the ledger: every amount is as posted, but the books
    are not; reconcile says which line moved, from where to where."""
    from dataclasses import replace

    run_month(world, {1: "10.00"})
    invoice(world, "10.00")
    held = world.ledger.journals["TB-AC-261001-001"]
    expense, accrued = held.lines
    world.ledger.journals[held.key] = replace(
        held, lines=(replace(expense, account="6130", tracking=()), accrued)
    )
    result = reconcile(world)
    assert result.status is ReconStatus.DRIFT
    assert result.input.drifted_keys == (
        "TB-AC-261001-001 (changed: line 1 (debit 10.00) moved from 5010 AI COGS (class: Support Assistant) "
        "to 6130 AI G&A)",
    )
    [ledger_check] = [f for f in result.findings if "line 1 (debit 10.00) moved" in f.explanation]
    assert "changed or missing in the ledger" in ledger_check.explanation


def test_a_journal_moved_by_hand_to_another_month_is_drift_left_alone_and_never_booked_twice(world: World):
    """An accountant re-dates a journal in the ledger (e.g. a draft moved into November): the ledger's
    entries of October no longer hold it, but its key does. It is a change by hand, not a loss: posting it
    again would be refused as a conflict, and planning its amount again would book the day twice."""
    from dataclasses import replace

    run_month(world, {1: "10.00", 2: "20.00"})
    invoice(world, "30.00")
    held = world.ledger.journals["TB-AC-261002-001"]
    expense, accrued = held.lines
    world.ledger.journals[held.key] = replace(
        held, txn_date=date(2026, 11, 2), lines=(replace(expense, tracking=("class=Growth",)), accrued)
    )
    result = reconcile(world)
    assert result.status is ReconStatus.DRIFT
    assert result.input.drifted_keys == (
        "TB-AC-261002-001 (changed: dated 2026-11-02 in the ledger; line 1 (debit 20.00 on 5010 AI COGS) "
        "moved from class: Support Assistant to class: Growth)",
    )
    world.clock.night_after(date(2026, 11, 3))
    again = sync(world.app, entity="acme-us", until=date(2026, 11, 3))
    assert again.post.posted == []
    assert again.post.rejected == []
    assert sorted(world.ledger.journals) == ["TB-AC-261001-001", "TB-AC-261002-001"]


def test_a_journal_still_a_draft_in_the_ledger_is_not_in_the_books_and_holds_the_close(world: World):
    """Posting mode draft (Xero): a draft is not in the ledger's reports until a person approves it there.
    The reconciliation must not count it as held by the ledger, and the close must say what to approve."""
    from dataclasses import replace

    from connector.domain.close import Checklist

    run_month(world, {1: "10.00", 2: "20.00"})
    invoice(world, "30.00")
    approved = world.ledger.journals["TB-AC-261002-001"]
    world.ledger.journals[approved.key] = replace(approved, status="draft")
    result = reconcile(world)
    assert result.status is ReconStatus.UNAPPROVED_DRAFTS
    assert result.input.ledger_total == Decimal("10.00")
    [check] = [f for f in result.findings if f.check == "ledger = posted"]
    assert not check.holds
    assert "20.00 USD is in 1 draft journal(s)" in check.explanation
    assert "TB-AC-261002-001" in check.explanation
    [blocker] = Checklist(OCT, reconciliation=[("openai", "org-1", result.status.value)]).blockers
    assert "approve" in blocker.fix
    world.ledger.journals[approved.key] = approved  # the accountant approves it
    assert reconcile(world).status is ReconStatus.MATCHED


def invoice_with_lines(world: World, issued: date, lines: list[tuple[str, str, str]]) -> None:
    total = sum((Decimal(amount) for _, amount, _ in lines), Decimal(0))
    store_invoices(
        world.app.store,
        [
            Invoice(
                "acme-us",
                "openai",
                "org-1",
                "INV-2",
                "2026-10",
                issued,
                total,
                "USD",
                tuple(InvoiceLine(text, Decimal(amount), kind) for text, amount, kind in lines),
            )
        ],
        source="test",
        clock=world.clock,
    )


def test_tax_and_credits_on_the_invoice_are_explained_and_the_period_matches(world: World):
    run_month(world, {1: "100.00", 2: "50.00"})
    invoice_with_lines(
        world,
        date(2026, 11, 3),
        [
            ("API usage", "150.00", "usage"),
            ("Sales tax", "12.38", "tax"),
            ("Promo credit", "-20.00", "credit"),
        ],
    )
    result = reconcile(world)
    assert result.status is ReconStatus.MATCHED
    assert result.variance == Decimal("-7.62")
    assert dict(result.explained) == {
        "tax on the invoice": Decimal("12.38"),
        "credits on the invoice": Decimal("-20.00"),
    }
    assert result.unexplained == Decimal("0")
    [check] = [f for f in result.findings if f.check == "invoice = provider cost"]
    assert "tax on the invoice +12.38" in check.explanation


def test_usage_reported_after_the_invoice_was_issued_is_explained_as_late(world: World):
    run_month(world, {1: "100.00"})
    invoice_with_lines(world, date(2026, 11, 3), [("API usage", "100.00", "usage")])
    world.source.set("104.50", date(2026, 10, 1))  # the provider restates 1 October after the invoice
    world.clock.now = datetime(2026, 11, 5, 2, 30, tzinfo=UTC)
    sync(world.app, entity="acme-us", since=date(2026, 10, 1), until=date(2026, 10, 31))
    result = reconcile(world)
    assert dict(result.explained) == {"usage reported after the invoice was issued": Decimal("-4.50")}
    assert result.status is ReconStatus.MATCHED


def test_the_tolerance_is_per_provider_and_may_be_a_percent(world: World):
    run_month(world, {1: "1000.00"})
    invoice(world, "1004.00")
    assert reconcile(world).status is ReconStatus.VARIANCE  # default: 1.00
    world.app.settings.reconcile.providers["openai"] = ToleranceSettings(
        absolute=None, percent=Decimal("0.5")
    )
    results = reconcile_run(world.app, entity="acme-us", period=OCT)
    assert [r.status for r in results] == [ReconStatus.WITHIN_TOLERANCE]
    with UnitOfWork(world.app.engine) as uow:
        [stored] = uow.reconciliations.latest("acme-us", "2026-10")
        [run] = [r for r in uow.runs.latest(5, kind="reconcile") if r.status != "abandoned"]
    assert stored.status == "within_tolerance"
    assert stored.variance == Decimal("4.00")
    assert stored.tolerance == Decimal("5.02")  # 0.5 % of 1004.00
    assert stored.coverage == Decimal("0.9960")
    assert run.status == "succeeded"
    assert run.stats == {"openai/org-1": "within_tolerance"}


def test_tolerance_allows_the_larger_of_absolute_and_percent():
    both = Tolerance(Decimal("1.00"), Decimal("1"))
    assert both.allowance(Decimal("50")) == Decimal("1.00")
    assert both.allowance(Decimal("500")) == Decimal("5")
    assert Tolerance(None, None).allows(Decimal("0.01"), Decimal("10")) is False
