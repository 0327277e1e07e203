"""The Reconciliation & close page of a locked month: the corrections booked for it in a later period,
signed as debit or credit to the expense; and the `unapproved_drafts` status in words, styled as a warning."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from starlette.testclient import TestClient

from connector.domain.invoices import Invoice
from connector.domain.periods import Period
from connector.domain.reconcile import ReconInput, reconcile
from connector.service.approvals import approve_journal
from connector.service.close import close_month
from connector.service.invoices import store_invoices
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.web.conftest import sign_in

OCTOBER = Period(2026, 10)


def _october_closed_then_invoiced_lower(world: World) -> None:
    """October accrued 75.00 (synced nightly), locked in the ledger on 31 October; OpenAI's invoice, issued
    3 November, bills 70.00: the true-up (a credit to the expense), approved, lands on 1 November, the first
    open day."""
    world.clock.night_after(date(2026, 10, 31))
    assert sync(world.app, entity="acme-us", until=date(2026, 10, 31)).status == "succeeded"
    world.ledger.lock = date(2026, 10, 31)
    store_invoices(
        world.app.store,
        [
            Invoice(
                "acme-us", "openai", "org-1", "INV-10", "2026-10", date(2026, 11, 3), Decimal("70.00"), "USD"
            )
        ],
        source="test",
        clock=world.clock,
    )
    world.clock.night_after(date(2026, 11, 3))
    sync(world.app, entity="acme-us", until=date(2026, 11, 3))  # beyond tolerance: held for approval
    approve_journal(world.app.store, world.clock, entity="acme-us", key="TB-TU-261101-001", approver="april")
    assert sync(world.app, entity="acme-us", until=date(2026, 11, 3)).post.posted == ["TB-TU-261101-001"]


def test_a_true_up_booked_after_the_lock_is_a_credit_to_the_expense_in_the_close(console_world: World):
    world = console_world
    _october_closed_then_invoiced_lower(world)
    checklist = close_month(world.app, entity="acme-us", period=OCTOBER).checklist
    [later] = checklist.booked_later
    assert (later.kind, later.txn_date, later.original_date) == (
        "true_up",
        date(2026, 11, 1),
        date(2026, 10, 31),
    )
    assert (later.amount, later.side, later.entry) == (
        Decimal("-5.00"),
        "credit",
        "credit 5.00 USD to the expense",
    )


def test_the_close_page_lists_what_was_booked_for_the_month_later_with_its_side(
    client: TestClient, console_world: World
):
    _october_closed_then_invoiced_lower(console_world)
    sign_in(client, "ada")
    page = client.get("/reconciliation?period=2026-10").text
    assert "Booked for 2026-10 in a later period" in page
    row = page[page.index("Booked for 2026-10 in a later period") :]
    row = row[row.index('<a class="mono" href="/journals/TB-TU-261101-001">') :].split("</tr>", 1)[0]
    assert "True up" in row
    assert "2026-11-01" in row
    assert "2026-10-31" in row
    cells = row.split('<td class="r">')
    assert cells[1].startswith("</td>")  # nothing in Debit
    assert "5.00 USD" in cells[2]  # Credit
    assert "the expense" in row


def test_a_month_whose_journals_wait_as_drafts_shows_the_status_in_words_styled_as_a_warning(
    client: TestClient, console_world: World
):
    world = console_world
    result = reconcile(
        ReconInput(
            entity="acme-us",
            provider="openai",
            provider_account="org-1",
            period="2026-10",
            currency="USD",
            provider_cost_exact=Decimal("75.00"),
            provider_cost_rounded_by_bucket=Decimal("75.00"),
            estimated_cost=Decimal(0),
            posted_total=Decimal("75.00"),
            queued_total=Decimal(0),
            invoice_total=Decimal("75.00"),
            ledger_total=Decimal(0),
            draft_keys=("TB-AC-261001-001", "TB-AC-261002-001", "TB-AC-261003-001"),
            draft_total=Decimal("75.00"),
        )
    )
    assert result.status.value == "unapproved_drafts"
    with UnitOfWork(world.app.engine) as uow:
        uow.reconciliations.add(result, run_id=None, created_at=world.clock())
        uow.commit()
    sign_in(client, "ada")
    page = client.get("/reconciliation?period=2026-10").text
    assert '<span class="badge unapproved_drafts">unapproved drafts</span>' in page
    assert "drafts in the ledger: not in its reports until approved there" in page
    css = client.get("/static/console.css").text
    warn = next(line for line in css.splitlines() if line.startswith(".badge.warn"))
    assert ".badge.unapproved_drafts" in warn
    assert ".badge.missing_invoice" in warn


def test_a_checklist_stored_before_amounts_were_signed_is_computed_again(console_world: World, monkeypatch):
    """The console stores each month's checklist until the books change. One stored by the release before
    (booked_later amounts unsigned, no `booked_to`) must not be shown after the upgrade as a debit."""
    from connector.service import console as reads

    world = console_world
    _october_closed_then_invoiced_lower(world)
    with monkeypatch.context() as earlier:
        earlier.setattr(reads, "SUMMARY_FORMAT", "summaries-1")
        old_stamp = reads.books_stamp(world.app, "acme-us")
    old = {
        "period": "2026-10",
        **{name: [] for name in ("accruals", "lots", "prepaid", "deferred", "refused", "held", "unposted")},
        "booked_later": [
            {
                "key": "TB-TU-261101-001",
                "txn_date": "2026-11-01",
                "kind": "true_up",
                "original_date": "2026-10-31",
                "amount": "5.00",
                "currency": "USD",
            }
        ],
        "suspense": {},
        "reconciliation": [],
        "reconciliation_notes": [],
    }
    with UnitOfWork(world.app.engine) as uow:
        uow.console_summaries.save("acme-us", "close:2026-10", old, old_stamp, world.clock())
        uow.commit()
    checklist, _ = reads.close_checklist(world.app, "acme-us", OCTOBER)
    [later] = checklist.booked_later
    assert later.entry == "credit 5.00 USD to the expense"
