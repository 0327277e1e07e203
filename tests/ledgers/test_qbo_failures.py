"""Ledger-side failures, table-driven, against the QuickBooks sandbox over HTTP.

Each case arranges one thing going wrong (in the company, the connection or the network), posts a journal
(or reads), and checks the outcome and that the message names the journal (and line where it applies),
carries QuickBooks' own words and says what to do. `sent` says whether a journal may reach QuickBooks:
what can be checked locally never is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from connector.domain.errors import ConfigError, InvariantViolation, ReconnectNeeded, Retriable
from connector.domain.journals import Journal, JournalLine, LedgerTarget
from connector.ledgers.port import PostOutcome
from connector.ledgers.quickbooks.adapter import QuickBooksLedger
from connector.ledgers.tokens import MemoryVault, TokenSet
from connector.sandbox.quickbooks import QuickBooksSandbox
from tests.ledgers.conftest import ENTITY, accrual, batch_calls, make_ledger, request, wait_idle

KEY = accrual().key  # TB-AC-261003-001


@dataclass
class Ctx:
    box: QuickBooksSandbox
    vault: MemoryVault
    ledger: QuickBooksLedger

    def warm(self) -> None:
        """Read what a run reads first, so a scripted fault lands on the posting itself."""
        self.ledger.lock_date()
        self.ledger.chart_of_accounts()
        self.ledger.tracking()

    def with_company(self, company_id: str, realm_for_token: str | None = None) -> None:
        issued = self.box.issue_tokens(realm_for_token or self.box.realm_id)
        current = self.vault.load("quickbooks", ENTITY)
        tokens = TokenSet(
            issued["access_token"], issued["refresh_token"], current.access_expires_at, company_id=company_id
        )
        self.vault.save("quickbooks", ENTITY, tokens)
        self.ledger = make_ledger(self.box, self.vault)


def too_many_lines(_ctx: Ctx) -> Journal:
    debits = [JournalLine(LedgerTarget("5010"), Decimal("0.01"), f"model {n}") for n in range(500)]
    return Journal(
        KEY,
        ENTITY,
        accrual().kind,
        date(2026, 10, 3),
        "USD",
        (*debits, JournalLine(LedgerTarget("2150"), Decimal("-5.00"))),
    )


def unbalanced(_ctx: Ctx) -> Journal:
    journal = accrual()
    broken = (journal.lines[0], JournalLine(LedgerTarget("2150"), Decimal("-100.00"), "short"))
    object.__setattr__(journal, "lines", broken)  # only a bug could do this: the constructor refuses it
    return journal


def someone_elses_entry_under_our_number(ctx: Ctx) -> Journal:
    [theirs] = ctx.ledger.post([request(accrual(amount="999.00"), attempt=7)])
    assert theirs.outcome is PostOutcome.CREATED
    return accrual()


def books_closed_after_the_adapter_read_them(ctx: Ctx) -> Journal:
    ctx.warm()
    ctx.box.set_book_close_date(date(2026, 10, 31))
    return accrual()


def class_deactivated_after_the_adapter_read_the_list(ctx: Ctx) -> Journal:
    ctx.warm()
    ctx.box.set_class_active("103", False)
    return accrual(class_name="Growth")


def then(action: Callable[[Ctx], object], journal: Journal | None = None) -> Callable[[Ctx], Journal]:
    def arrange(ctx: Ctx) -> Journal:
        action(ctx)
        return journal or accrual()

    return arrange


@dataclass(frozen=True)
class Case:
    name: str
    arrange: Callable[[Ctx], Journal]
    expect: PostOutcome | type[BaseException]
    words: tuple[str, ...] = ()
    sent: bool = True
    read_only: bool = False  # the failure is in reading (lock date), not posting


CASES = [
    Case("missing account", then(lambda c: None, accrual(account="5999")), PostOutcome.REJECTED,
         (KEY, "line 1", "no account '5999'", "mappings check"), sent=False),
    Case("inactive account", then(lambda c: None, accrual(account="6199")), PostOutcome.REJECTED,
         (KEY, "line 1", "Legacy AI tools", "inactive", "reactivate"), sent=False),
    Case("class gone", then(lambda c: None, accrual(class_name="Moonshot")), PostOutcome.REJECTED,
         (KEY, "line 1", "no class 'Moonshot'"), sent=False),
    Case("class inactive", then(lambda c: c.box.set_class_active("103", False), accrual(class_name="Growth")),
         PostOutcome.REJECTED, (KEY, "line 1", "class 'Growth' is inactive"), sent=False),
    Case("department inactive",
         then(lambda c: c.box.set_department_active("201", False), accrual(department="EU")),
         PostOutcome.REJECTED, (KEY, "line 1", "department 'EU' is inactive"), sent=False),
    Case("department gone", then(lambda c: None, accrual(department="APAC")), PostOutcome.REJECTED,
         (KEY, "line 1", "no department 'APAC'"), sent=False),
    Case("class inactive by the time QuickBooks sees it", class_deactivated_after_the_adapter_read_the_list,
         PostOutcome.REJECTED, (KEY, "line 1", "code 2500", "Invalid Reference Id", "inactive", "reactivate")),
    Case("journal over the line limit", too_many_lines, PostOutcome.REJECTED,
         (KEY, "501 lines", "at most 500", "MAX_LINES_PER_JOURNAL"), sent=False),
    Case("wrong realm", then(lambda c: c.with_company("9341452000000999")), ReconnectNeeded,
         ("code 3100", "9341452000000999", "tokenbooks connect quickbooks")),
    Case("unknown realm", then(lambda c: c.with_company("123", realm_for_token="123")), ReconnectNeeded,
         ("code 3100", "Company 123 is not known", "tokenbooks connect quickbooks")),
    Case("expired access token is refreshed", then(lambda c: c.box.expire_access_tokens()),
         PostOutcome.CREATED),
    Case("revoked connection", then(lambda c: c.box.revoke_all_tokens()), ReconnectNeeded,
         ("refresh", "invalid, expired or revoked", "tokenbooks connect quickbooks"), sent=False),
    Case("subscription ended (6190)", then(lambda c: c.box.end_subscription()), ConfigError,
         ("code 6190", "Invalid Company Status", "subscription"), sent=False),
    Case("stale object (5010), every time", then(lambda c: c.box.queue_write_fault("5010", times=9)),
         PostOutcome.FAILED, (KEY, "code 5010", "Stale Object", "tries again")),
    Case("stale object (5010), once", then(lambda c: c.box.queue_write_fault("5010")), PostOutcome.CREATED),
    Case("duplicate DocNumber with other content (6140)", someone_elses_entry_under_our_number,
         PostOutcome.REJECTED, (KEY, "already holds", "differs", "999.00", "renumber")),
    Case("business rule (6000)", then(lambda c: None, accrual(account="2000")), PostOutcome.REJECTED,
         (KEY, "code 6000", "Accounts Payable, you must choose a vendor", "business rule")),
    Case("closed period, seen locally", then(lambda c: c.box.set_book_close_date(date(2026, 10, 31))),
         PostOutcome.REJECTED, (KEY, "closing date 2026-10-31", "not sent"), sent=False),
    Case("closed period (6210)", books_closed_after_the_adapter_read_them, PostOutcome.REJECTED,
         (KEY, "code 6210", "Account Period Closed", "open period")),
    Case("unbalanced journal reaching the adapter", unbalanced, InvariantViolation,
         (KEY, "does not balance"), sent=False),
    Case("foreign currency without multicurrency",
         then(lambda c: None, accrual(currency="EUR", exchange_rate=Decimal("1.08"))), PostOutcome.REJECTED,
         (KEY, "EUR", "multicurrency is off", "home currency USD"), sent=False),
    Case("non-JSON 5xx on a read", then(lambda c: c.box.faults.queue("server_error", 4, status=503)),
         Retriable, ("HTTP 503", "preferences", "not JSON", "Service Unavailable"), read_only=True),
    Case("non-JSON 5xx on a write", then(lambda c: (c.warm(), c.box.faults.queue("server_error", status=503))),
         PostOutcome.CREATED),
    Case("XML 429 on a write", then(lambda c: (c.warm(), c.box.faults.storm("throttle", 2))),
         PostOutcome.CREATED),
    Case("timeout on a read", then(lambda c: c.box.faults.queue("timeout", 4)), Retriable,
         ("did not answer preferences within",), read_only=True),
    Case("timeout on a write", then(lambda c: (c.warm(), c.box.faults.queue("timeout"))), PostOutcome.CREATED),
    Case("answer lost after the write", then(lambda c: (c.warm(), c.box.faults.queue("lost_response"))),
         PostOutcome.FOUND),
]  # fmt: skip


def test_there_are_at_least_fifteen_distinct_failure_cases():
    assert len({case.name for case in CASES}) == len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_ledger_failure_gives_a_clear_actionable_message(case, sandbox, vault, ledger):
    ctx = Ctx(sandbox, vault, ledger)
    journal = case.arrange(ctx)
    sandbox.reset_request_log()
    message = outcome_of(case, ctx, journal)
    for words in case.words:
        assert words in message
    wait_idle(sandbox)
    if not case.sent:
        assert batch_calls(sandbox) == []
    entries = [e["DocNumber"] for e in sandbox.journal_entries()]
    assert entries.count(KEY) <= 1  # whatever happened, never twice


def outcome_of(case: Case, ctx: Ctx, journal: Journal) -> str:
    """Run the case; the message a person would read."""
    if isinstance(case.expect, PostOutcome):
        [result] = ctx.ledger.post([request(journal)])
        assert result.outcome is case.expect, result.message
        if result.outcome is PostOutcome.CREATED:
            assert [e["DocNumber"] for e in ctx.box.journal_entries()].count(journal.key) == 1
        return result.message
    act = ctx.ledger.lock_date if case.read_only else lambda: ctx.ledger.post([request(journal)])
    with pytest.raises(case.expect) as caught:
        act()
    if case.expect is ReconnectNeeded:
        assert ctx.vault.reconnect_reason("quickbooks", ENTITY)  # later runs fail fast
    return str(caught.value)
