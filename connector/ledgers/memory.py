"""An in-memory ledger: the fake that service tests use where the sandboxes would only add time.

It keeps the rules that matter to the service: a key is held once (a second post of it is settled by the
shared settle step: the same content is FOUND, other content refused), a locked date is refused, accounts
must exist and be active, and every journal must balance. Faults can be scripted per call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from connector.domain.errors import ReconnectNeeded
from connector.domain.fx import Rate
from connector.domain.journals import Journal, check_journal
from connector.ledgers.port import (
    CurrencySetup,
    Held,
    LedgerAccount,
    LedgerBill,
    LedgerJournal,
    LedgerLine,
    LedgerStats,
    PostOutcome,
    PostRequest,
    PostResult,
    TrackingOption,
    target_tracking,
)
from connector.ledgers.settle import decide


class MemoryLedger:
    name = "memory"
    opens_accounts = False
    supports_drafts = False
    journals_per_request = 30
    settle_seconds = 0.0  # float ok: seconds; nothing commits behind its back

    def __init__(
        self,
        accounts: Sequence[LedgerAccount] = (),
        lock: date | None = None,
        options: Sequence[TrackingOption] = (),
        currencies: CurrencySetup | None = None,
    ) -> None:
        self.currencies = currencies or CurrencySetup("USD")
        self.accounts = list(accounts)
        self.options = list(options)  # classes, departments, Xero tracking options
        self.lock: date | None = lock
        self.journals: dict[str, LedgerJournal] = {}
        self.bill_list: list[LedgerBill] = []
        self.stats = LedgerStats()
        # scripted faults, one per write: "lost" = applied but the answer lost; "fail" = not applied;
        # "reject" = refused for good; "reconnect" = the connection is gone: the whole request raises
        # ReconnectNeeded, nothing of it applied (as a revoked grant answers)
        self.faults: deque[str] = deque()
        self._next_id = 1

    # ------------------------------------------------------------------------------------------- reads

    def lock_date(self) -> date | None:
        self.stats.read_calls += 1
        return self.lock

    def chart_of_accounts(self) -> list[LedgerAccount]:
        self.stats.read_calls += 1
        return list(self.accounts)

    def currency_setup(self) -> CurrencySetup:
        self.stats.read_calls += 1
        return self.currencies

    def tracking(self) -> list[TrackingOption]:
        self.stats.read_calls += 1
        return list(self.options)

    def exchange_rate(self, base: str, quote: str, day: date) -> Rate | None:
        return None  # keeps no rates: the policy's rates file gives them

    def find(self, key: str) -> LedgerJournal | None:
        return self.find_many([key]).get(key)

    def find_many(self, keys: Sequence[str]) -> dict[str, LedgerJournal]:
        self.stats.read_calls += 1
        return {key: self.journals[key] for key in keys if key in self.journals}

    def held(self, journal: Journal) -> Held:
        return Held.of_lines(journal.key, journal.txn_date, _lines(journal))

    def read_back(self, first_day: date, last_day: date) -> list[LedgerJournal]:
        self.stats.read_calls += 1
        return [j for j in self.journals.values() if first_day <= j.txn_date <= last_day]

    def bills(self, vendor: str, first_day: date, last_day: date) -> list[LedgerBill]:
        return [b for b in self.bill_list if b.vendor == vendor and first_day <= b.txn_date <= last_day]

    # ------------------------------------------------------------------------------------------ writes

    def post(self, requests: Sequence[PostRequest]) -> list[PostResult]:
        for request in requests:  # an unbalanced journal is a bug: nothing of the request is applied
            check_journal(request.journal)
        if self.faults and self.faults[0] == "reconnect":
            self.faults.popleft()
            raise ReconnectNeeded(
                f"{self.name} refused the connection: the grant was revoked",
                fix=f"run `tokenbooks connect {self.name}` and approve tokenbooks again",
            )
        return [self._post_one(r.journal) for r in requests]

    def _post_one(self, journal: Journal) -> PostResult:
        self.stats.write_calls += 1
        fault = self.faults.popleft() if self.faults else None
        if fault == "fail":
            return PostResult(
                journal.key, PostOutcome.FAILED, message="injected failure", error_class="Retriable"
            )
        if fault == "reject":
            return PostResult(
                journal.key, PostOutcome.REJECTED, message="injected rejection", error_class="Rejected"
            )
        if journal.key in self.journals:  # the shared settle step: same content posted, else refused
            return decide([self.held(journal)], self.journals, ledger=self.name)[0].result()
        if self.lock and journal.txn_date <= self.lock:
            return PostResult(
                journal.key,
                PostOutcome.REJECTED,
                message=f"journal {journal.key} is dated {journal.txn_date}, in a period locked through "
                f"{self.lock}; it was not posted",
                error_class="LockedPeriod",
            )
        known = {ref: a for a in self.accounts for ref in a.references()}
        for number, line in enumerate(journal.lines, start=1):
            account = known.get(line.target.account)
            if account is None or not account.active:
                problem = "has no account" if account is None else "has an inactive account"
                return PostResult(
                    journal.key,
                    PostOutcome.REJECTED,
                    message=f"journal {journal.key} line {number}: the ledger {problem} {line.target.account!r}"
                    " (fix: create or reactivate it, or correct the mapping)",
                    error_class="Rejected",
                )
        ledger_id = str(self._next_id)
        self._next_id += 1
        self.journals[journal.key] = LedgerJournal(
            key=journal.key,
            ledger_id=ledger_id,
            txn_date=journal.txn_date,
            lines=_lines(journal),
            memo=journal.memo,
        )
        if fault == "lost":
            return PostResult(
                journal.key, PostOutcome.UNCERTAIN, message="answer lost", error_class="UncertainOutcome"
            )
        return PostResult(journal.key, PostOutcome.CREATED, ledger_id=ledger_id)

    # --------------------------------------------------------------------------------------- inspection

    def balance(self, account: str) -> Decimal:
        return sum(
            (line.amount for j in self.journals.values() for line in j.lines if line.account == account),
            Decimal(0),
        )


def _lines(journal: Journal) -> tuple[LedgerLine, ...]:
    """A journal's lines as this ledger holds them: accounts, classes and tracking as the mapping names them."""
    return tuple(
        LedgerLine(line.target.account, line.amount, line.description, target_tracking(line.target))
        for line in journal.lines
    )
