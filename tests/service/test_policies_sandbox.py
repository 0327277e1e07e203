"""The true-up and prepaid examples against the QuickBooks sandbox, through python-quickbooks for real.

The AP team's side is done as it is in QuickBooks: the provider's bill entered against Accrued AI costs
(which tokenbooks reads back as the period's invoice), the purchase of credits entered against Prepaid
AI credits. Balances are the sandbox company's own (`CurrentBalance`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from connector.bootstrap import build_app
from connector.domain.credits import CreditLot
from connector.domain.journals import JournalKind, as_text
from connector.domain.periods import Period
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.retrying import no_sleep
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.connections import connect_ledger
from connector.service.imports import record_credit_lot
from connector.service.invoices import import_ledger_bills, ledger_vendors
from connector.service.sync import sync
from connector.settings import OpenAISettings, Settings
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, policies
from tests.service.conftest import Clock, ScriptedSource
from tests.service.test_qbo_resilience import approve
from tests.support import FULL_MAPPING, fact, free_port

ACCRUED, PREPAID, VENDOR = (
    "6",
    "2",
    "300",
)  # the sandbox company's Accrued AI costs, Prepaid AI credits, OpenAI


class SandboxBooks:
    def __init__(self, tmp: Path, box: QuickBooksSandbox, policies_text: str) -> None:
        self.box, self.clock, self.source = box, Clock(), ScriptedSource()
        (tmp / "mapping.yaml").write_text(FULL_MAPPING)
        (tmp / "policies.yaml").write_text(policies_text)
        self.settings = Settings(
            database_url=f"sqlite:///{tmp / 'tb.db'}",
            mapping_file=tmp / "mapping.yaml",
            policies_file=tmp / "policies.yaml",
            data_dir=tmp,
            encryption_key=SecretStr(Fernet.generate_key().decode()),
            openai=OpenAISettings(organization="org-1", ledger_vendor="OpenAI"),
            quickbooks=QuickBooksSettings(
                client_id=box.client_id,
                client_secret=SecretStr(box.client_secret),
                base_url=box.base_url,
                discovery_url=box.discovery_url,
                redirect_uri=f"http://127.0.0.1:{free_port()}/callback",
                timeout_seconds=5,
            ),
            _env_file=None,
        )
        self.app = build_app(self.settings, clock=self.clock, sources=[self.source], sleep=no_sleep)
        connect_ledger(self.app, "quickbooks", ENTITY, open_browser=False, say=approve)

    def night(self, day: date):
        self.clock.night_after(day)
        result = sync(self.app, entity=ENTITY, until=day)
        assert result.status == "succeeded", result.reason
        return result

    def balance(self, account_id: str) -> Decimal:
        return self.box.account(account_id)["CurrentBalance"]

    def texts(self, kind: JournalKind) -> list[str]:
        with UnitOfWork(self.app.engine) as uow:
            return [as_text(s.journal) for s in uow.outbox.list(ENTITY) if s.journal.kind is kind]


def test_an_invoice_3_17_above_the_accruals_is_trued_up_and_the_bill_leaves_accrued_ai_costs_at_zero(
    tmp_path,
):
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        books = SandboxBooks(tmp_path, box, policies())
        for day, support, eng in (
            (date(2026, 10, 1), "600.00", "150.00"),
            (date(2026, 10, 15), "300.00", "250.00"),
        ):
            books.source.set(support, day)
            books.source.set(eng, day, project="proj_eng_tools")
            books.night(day)
        assert books.balance(ACCRUED) == Decimal("1300.00")
        # AP enters OpenAI's October bill against Accrued AI costs; tokenbooks reads it back as the invoice
        box.add_bill(VENDOR, [(ACCRUED, "1303.17")], txn_date=date(2026, 11, 3), doc_number="INV-2026-10")
        [invoice] = import_ledger_bills(
            books.app.store,
            books.app.ledger(ENTITY),
            vendors=ledger_vendors(books.app.settings),
            period=Period(2026, 10),
            entity=ENTITY,
            clock=books.clock,
        )
        assert invoice.total == Decimal("1303.17")
        result = books.night(date(2026, 11, 3))
        assert result.post.posted == ["TB-TU-261031-001"]
        assert books.texts(JournalKind.TRUE_UP) == [
            """\
2026-10-31 TB-TU-261031-001 true_up USD
  Dr 5010 (Support Assistant)                         2.19
  Dr 6110                                             0.98
  Cr 2150                                             3.17"""
        ]
        assert books.balance(ACCRUED) == Decimal("0.00")  # the accrual, trued up, is exactly the bill
        assert books.night(date(2026, 11, 4)).plan.planned == []


def test_credits_bought_used_and_expired_leave_prepaid_ai_credits_as_the_lots_say(tmp_path):
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        books = SandboxBooks(tmp_path, box, policies("billing: prepaid"))
        lots = [("lot-1", "1000.00", date(2026, 10, 1), date(2027, 10, 1))]
        lots.append(("lot-2", "100.00", date(2026, 10, 6), date(2026, 10, 20)))
        for lot_id, amount, bought, expires in lots:
            lot = CreditLot(ENTITY, "openai", "org-1", lot_id, bought, Decimal(amount), "USD", expires)
            record_credit_lot(books.app, lot)
            box.add_bill(VENDOR, [(PREPAID, amount)], txn_date=bought, doc_number=lot_id)  # AP: the purchase
        books.source.set("250.00", date(2026, 10, 5))
        books.night(date(2026, 10, 5))
        assert books.balance(PREPAID) == Decimal("1000.00") + Decimal("100.00") - Decimal("250.00")
        books.source.set("20.00", date(2026, 10, 10))  # drawn from lot-2, which expires first
        books.night(date(2026, 10, 10))
        books.night(date(2026, 10, 20))
        assert (
            books.texts(JournalKind.PREPAID_CONSUMPTION)[0]
            == """\
2026-10-05 TB-PC-261005-001 prepaid_consumption USD
  Dr 5010 (Support Assistant)                       250.00
  Cr 1350                                           250.00"""
        )
        assert books.texts(JournalKind.EXPIRY_WRITE_OFF) == [
            """\
2026-10-20 TB-EX-261020-001 expiry_write_off USD
  Dr 6195                                            80.00
  Cr 1350                                            80.00"""
        ]
        assert books.balance(PREPAID) == Decimal("750.00")  # lot-1's 750 left; lot-2 used and written off


def test_with_multicurrency_a_euro_journal_carries_quickbooks_own_rate_of_its_date(tmp_path):
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        box.set_preference("MultiCurrencyEnabled", True)
        box.set_exchange_rate("EUR", date(2026, 10, 5), "1.0850")
        books = SandboxBooks(tmp_path, box, policies(fx="{source: ledger}"))
        books.source.facts.append(fact("92.17", date(2026, 10, 5), currency="EUR"))
        books.night(date(2026, 10, 5))
        with UnitOfWork(books.app.engine) as uow:
            [stored] = uow.outbox.list(ENTITY)
        assert (stored.journal.currency, stored.journal.exchange_rate) == ("EUR", Decimal("1.0850"))
        assert (
            "Exchange rate 1.0850 USD per EUR (2026-10-05, QuickBooks rate of 2026-10-05)"
            in stored.journal.memo
        )
        [entry] = box.journal_entries()
        assert (entry["CurrencyRef"]["value"], entry["ExchangeRate"]) == ("EUR", Decimal("1.0850"))


def test_a_day_quickbooks_has_no_rate_for_stops_the_run_naming_the_day_the_currency_and_where_to_add_it(
    tmp_path,
):
    """Rates from the ledger (`fx: {source: ledger}`), no rates file: QuickBooks keeps a euro rate for 4
    October and none for 5 October. The run fails before posting anything, recorded, and tells the person
    to enter the rate in QuickBooks (the error said only "add a row … to the rates file", a file these
    policies do not have); once the rate is entered, the next night posts at it."""
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        box.set_preference("MultiCurrencyEnabled", True)
        box.set_exchange_rate("EUR", date(2026, 10, 4), "1.0840")
        books = SandboxBooks(tmp_path, box, policies(fx="{source: ledger}"))
        books.source.facts.append(fact("92.17", date(2026, 10, 5), currency="EUR"))
        books.clock.night_after(date(2026, 10, 5))
        failed = sync(books.app, entity=ENTITY, until=date(2026, 10, 5))
        assert failed.status == "failed"
        assert failed.error is not None
        assert failed.error.message == (
            "no exchange rate from EUR to USD for 2026-10-05: QuickBooks has no EUR rate for 2026-10-05 (the "
            "policies take rates from the ledger: fx source `ledger`) and no rates file is named in the "
            "policies (fx.rates_file); the run stopped before posting anything"
        )
        assert failed.error.fix.startswith(
            "enter the EUR rate of 2026-10-05 in QuickBooks (Settings ▸ Currencies), or add the row "
            "`2026-10-05,EUR,USD,<rate>,<source>`"
        )
        assert box.journal_entries() == []
        with UnitOfWork(books.app.engine) as uow:
            assert uow.outbox.list(ENTITY) == []
        box.set_exchange_rate("EUR", date(2026, 10, 5), "1.0850")
        books.night(date(2026, 10, 5))
        [entry] = box.journal_entries()
        assert (entry["CurrencyRef"]["value"], entry["ExchangeRate"]) == ("EUR", Decimal("1.0850"))


def test_a_true_up_moved_out_of_a_closed_month_carries_the_accruals_rate_so_accrued_ai_costs_ends_at_zero(
    tmp_path,
):
    """Multicurrency, a euro provider accrued at month end and reversed on 1 November, both at QuickBooks'
    rate of 31 October (1.0800). October is closed in QuickBooks before the invoice (3.17 EUR above the
    accrual) arrives: its true-up moves to 1 November, and its mirror is booked there too. The true-up took
    1 November's rate (1.0900) while its mirror took the accrual's, so Accrued AI costs was left at
    3.17 × (1.0900 − 1.0800) = 0.03 USD; both now carry the rate of the day the true-up belongs to."""
    import json

    from connector.service.imports import import_invoices

    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        box.set_preference("MultiCurrencyEnabled", True)
        for day, rate in ((date(2026, 10, 15), "1.0750"), (date(2026, 10, 31), "1.0800")):
            box.set_exchange_rate("EUR", day, rate)
        box.set_exchange_rate("EUR", date(2026, 11, 1), "1.0900")
        books = SandboxBooks(
            tmp_path, box, policies("billing: arrears, accrual: month_end_reversing", fx="{source: ledger}")
        )
        books.source.facts.append(fact("600.00", date(2026, 10, 15), currency="EUR"))
        for night in (date(2026, 10, 15), date(2026, 11, 1)):
            books.night(night)
        assert books.balance(ACCRUED) == Decimal("0.00")  # accrued at 1.0800, reversed at 1.0800
        box.set_book_close_date(date(2026, 10, 31))
        invoice = {"provider": "openai", "account": "org-1", "number": "INV-10", "period": "2026-10"}
        invoice |= {"issue_date": "2026-11-03", "total": "603.17", "currency": "EUR"}
        (tmp_path / "invoice.json").write_text(json.dumps({"invoices": [invoice]}))
        import_invoices(books.app, tmp_path / "invoice.json", entity=ENTITY)
        books.night(date(2026, 11, 3))
        rates = {e["DocNumber"]: (e["TxnDate"], e["ExchangeRate"]) for e in box.journal_entries()}
        assert rates == {
            "TB-AC-261031-001": ("2026-10-31", Decimal("1.0800")),
            "TB-RV-261101-001": ("2026-11-01", Decimal("1.0800")),
            "TB-TU-261101-001": ("2026-11-01", Decimal("1.0800")),  # moved, at the rate of 31 October
            "TB-RV-261101-002": ("2026-11-01", Decimal("1.0800")),
        }
        assert books.balance(ACCRUED) == Decimal("0.00")


def test_the_reversal_of_a_true_up_held_for_approval_waits_with_it(tmp_path):
    """Month-end reversing: 600.00 accrued on 31 October and reversed on 1 November. The invoice bills
    700.00: its true-up of 100.00 is beyond the tolerance and held. Its mirror on 1 November was posted all
    the same, leaving −100.00 on Accrued AI costs (and 100.00 taken off November's expense) for a true-up
    QuickBooks never received. It waits with the true-up; approving the run posts both."""
    import json

    from connector.service.approvals import approve
    from connector.service.imports import import_invoices

    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        books = SandboxBooks(tmp_path, box, policies("billing: arrears, accrual: month_end_reversing"))
        books.source.facts.append(fact("600.00", date(2026, 10, 15)))
        for night in (date(2026, 10, 15), date(2026, 11, 1)):
            books.night(night)
        invoice = {"provider": "openai", "account": "org-1", "number": "INV-10", "period": "2026-10"}
        invoice |= {"issue_date": "2026-11-03", "total": "700.00", "currency": "USD"}
        (tmp_path / "invoice.json").write_text(json.dumps({"invoices": [invoice]}))
        import_invoices(books.app, tmp_path / "invoice.json", entity=ENTITY)
        held_by = books.night(date(2026, 11, 3))
        with UnitOfWork(books.app.engine) as uow:
            held = {s.journal.key: s.hold_reason for s in uow.outbox.list(ENTITY, statuses=["held"])}
        assert sorted(held) == ["TB-RV-261101-002", "TB-TU-261031-001"]
        assert held["TB-RV-261101-002"].startswith("it reverses a true-up held for approval")
        assert sorted(e["DocNumber"] for e in box.journal_entries()) == [
            "TB-AC-261031-001",
            "TB-RV-261101-001",
        ]
        assert books.balance(ACCRUED) == Decimal("0.00")
        approve(books.app.store, books.clock, entity=ENTITY, target=held_by.run_id, approver="J. Rivera")
        books.night(date(2026, 11, 4))
        assert len(box.journal_entries()) == 4
        assert books.balance(ACCRUED) == Decimal("0.00")
