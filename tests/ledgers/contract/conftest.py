"""One rig per ledger for the contract suite: the same questions asked of in-memory, QuickBooks (python-quickbooks
over HTTP against our sandbox), Xero (xero-python against our sandbox, on a manual clock) and beancount (a file
read back by beancount's own loader).

A rig knows how to name two accounts the ledger has and one it has not, how to close the books up to a day,
and how to lose the answer to the next write after it was applied. What a ledger cannot do is a reasoned skip,
said in `cannot`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector.domain.chart import LedgerAccount
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget, journal_key
from connector.ledgers.beancount.adapter import BeancountLedger
from connector.ledgers.memory import MemoryLedger
from connector.ledgers.port import Ledger
from connector.ledgers.tokens import MemoryVault
from connector.sandbox.common import FaultPlan
from connector.sandbox.quickbooks import QuickBooksSandbox
from tests.ledgers.conftest import connect, make_ledger
from tests.xero_support import running_xero

DAY = date(2026, 10, 3)


@dataclass
class Rig:
    """A ledger and the few things the contract needs to arrange around it."""

    ledger: Ledger
    entity: str
    debit: str  # an account the ledger has, as a mapping names it
    credit: str
    missing: str  # an account the ledger does not have
    lock: Callable[[date], None] | None = None
    lose_next_answer: Callable[[], None] | None = None
    warm: Callable[[], None] = lambda: None  # read what a run reads first, so a scripted fault hits the write
    deactivate: Callable[[Rig, str], None] | None = None  # switch an account off (and read the chart anew)
    cannot: dict[str, str] = field(default_factory=dict)  # case → why this ledger cannot take part

    def skip_unless(self, case: str) -> None:
        if case in self.cannot:
            pytest.skip(f"{self.ledger.name}: {self.cannot[case]}")

    def journal(self, serial: int = 1, amount: str = "120.37", day: date = DAY, account: str = "") -> Journal:
        """A usage accrual: Dr `account` (the debit account by default), Cr the credit account."""
        key = journal_key(JournalKind.USAGE_ACCRUAL, day, serial)
        text = f"OpenAI usage {day}"
        return Journal(
            key,
            self.entity,
            JournalKind.USAGE_ACCRUAL,
            day,
            "USD",
            (
                JournalLine(LedgerTarget(account or self.debit), Decimal(amount), text),
                JournalLine(LedgerTarget(self.credit), -Decimal(amount), text),
            ),
            memo=f"{key} · tokenbooks usage accrual",
        )


def _memory() -> Iterator[Rig]:
    accounts = [
        LedgerAccount(id="1", name="AI COGS", number="5010", type="Expense"),
        LedgerAccount(id="2", name="Accrued AI costs", number="2150", type="Liability"),
    ]
    ledger = MemoryLedger(accounts)

    def lock(day: date) -> None:
        ledger.lock = day

    def deactivate(_rig: Rig, number: str) -> None:
        ledger.accounts = [replace(a, active=False) if a.number == number else a for a in ledger.accounts]

    yield Rig(
        ledger,
        "acme-us",
        "5010",
        "2150",
        "5999",
        lock=lock,
        lose_next_answer=lambda: ledger.faults.append("lost"),
        deactivate=deactivate,
        cannot={"line limit": "the in-memory fake keeps no line limit (QuickBooks and Xero do)"},
    )


def _quickbooks(tmp_path: Path) -> Iterator[Rig]:
    vault = MemoryVault()
    with QuickBooksSandbox(tmp_path / "qbo.json", faults=FaultPlan(delay_seconds=0)) as box:
        connect(box, vault)
        ledger = make_ledger(box, vault, timeout=2.0)

        def warm() -> None:
            ledger.lock_date()
            ledger.chart_of_accounts()
            ledger.tracking()

        def deactivate(rig: Rig, number: str) -> None:
            [account] = [a for a in rig.ledger.chart_of_accounts() if a.number == number]
            box.set_account_active(account.id, False)
            rig.ledger = make_ledger(box, vault, timeout=2.0)  # a later run reads the chart anew

        yield Rig(
            ledger,
            "acme-us",
            "5010",
            "2150",
            "5999",
            lock=box.set_book_close_date,
            lose_next_answer=lambda: box.faults.queue("lost_response", delay_seconds=0),
            warm=warm,
            deactivate=deactivate,
        )


def _xero() -> Iterator[Rig]:
    with running_xero(check_requests=True) as rig:
        rig.connect()
        ledger = rig.ledger()

        def warm() -> None:
            ledger.lock_date()
            ledger.chart_of_accounts()
            ledger.tracking()

        def deactivate(made: Rig, code: str) -> None:
            rig.box.set_account_status(code, "ARCHIVED")
            made.ledger = rig.ledger()  # a later run reads the chart anew

        yield Rig(
            ledger,
            "acme-xero",
            "510",
            "2150",
            "5999",
            lock=lambda day: rig.box.set_lock_dates(period=day.isoformat()),
            lose_next_answer=lambda: rig.box.write_faults.queue("lost_response", delay_seconds=0),
            warm=warm,
            deactivate=deactivate,
        )


def _beancount(tmp_path: Path) -> Iterator[Rig]:
    ledger = BeancountLedger(
        tmp_path / "books.beancount", title="Acme", currency="USD", opened_on=date(2026, 1, 1)
    )
    yield Rig(
        ledger,
        "acme-books",
        "Expenses:AI:COGS",
        "Liabilities:Accrued-AI-Costs",
        "",
        cannot={
            "lock date": "a text file has no closing date (lock_date() is None); version control and bean-check "
            "guard it instead",
            "uncertain answer": "an append to a local file is atomic and answered every time: there is no answer "
            "to lose",
            "unknown account": "a beancount file opens any account the first time a journal uses it "
            "(opens_accounts), so no account is unknown",
            "line limit": "a beancount transaction takes any number of postings",
            "deactivated account": "tokenbooks opens beancount accounts and never closes them: there is no "
            "switched-off account to resolve",
        },
    )


@pytest.fixture(params=["memory", "quickbooks", "xero", "beancount"])
def rig(request, tmp_path) -> Iterator[Rig]:
    builders = {
        "memory": _memory,
        "quickbooks": lambda: _quickbooks(tmp_path),
        "xero": _xero,
        "beancount": lambda: _beancount(tmp_path),
    }
    yield from builders[request.param]()
