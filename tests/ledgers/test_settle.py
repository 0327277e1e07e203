"""The shared settle step: one answer for "this key is already in the ledger", and the send-missing shell."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.errors import RateLimited, Rejected, UncertainOutcome
from connector.ledgers.port import Held, LedgerJournal, LedgerLine, PostOutcome, PostResult
from connector.ledgers.settle import Action, Sent, decide, send_missing, wait_until_settled
from connector.retrying import RetryPolicy

DAY = date(2026, 10, 3)


def held(key: str = "TB-AC-261003-001", amount: str = "120.37", day: date = DAY) -> Held:
    return Held.of(key, day, [("5010", Decimal(amount)), ("2150", -Decimal(amount))])


def in_ledger(h: Held, ledger_id: str = "77") -> LedgerJournal:
    lines = tuple(LedgerLine(account, amount) for account, amount in reversed(h.postings))
    return LedgerJournal(h.key, ledger_id, h.txn_date, lines, memo="edited memo, not accounting")


def test_missing_is_sent_same_content_is_posted_other_content_is_refused():
    missing, same, edited, moved = (held(f"TB-{n}") for n in range(4))
    found = {
        same.key: in_ledger(same, "1"),
        edited.key: in_ledger(held(edited.key, "999.00"), "2"),
        moved.key: in_ledger(held(moved.key, day=date(2026, 10, 4)), "3"),
    }
    decisions = decide([missing, same, edited, moved], found, ledger="Xero", names={"5010": "5010 AI COGS"})
    assert [d.action for d in decisions] == [Action.SEND, Action.POSTED, Action.REFUSE, Action.REFUSE]
    assert decisions[1].result() == PostResult(same.key, PostOutcome.FOUND, ledger_id="1")
    lines, date_ = decisions[2].result(), decisions[3].result()
    assert lines.outcome is PostOutcome.REJECTED
    assert lines.error_class == "Rejected"
    for words in (edited.key, "Xero", "id 2", "differs in its lines", "Dr 5010 AI COGS 999.00", "120.37"):
        assert words in lines.message
    for words in (moved.key, "id 3", "differs in its date", "2026-10-04", "2026-10-03"):
        assert words in date_.message


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)


@given(amounts, amounts)
def test_only_identical_content_counts_as_posted(ours, theirs):
    planned = held(amount=str(ours))
    decision = decide([planned], {planned.key: in_ledger(held(amount=str(theirs)))}, ledger="memory")[0]
    assert (decision.action is Action.POSTED) == (ours == theirs)


class Ledgerish:
    """A tiny scripted ledger for the shell: each send applies or loses journals as scripted."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.held: dict[str, LedgerJournal] = {}
        self.sends: list[list[str]] = []
        self.lookups: list[list[str]] = []
        self.now = 0.0  # float ok: seconds on a manual clock
        self.slept = 0.0  # float ok: seconds

    def send(self, items: list[Held], sent: Sent) -> None:
        self.sends.append([h.key for h in items])
        step = self.script.pop(0)
        if step == "throttled":
            raise RateLimited("429", retry_after=1)
        if step == "refused":
            raise Rejected("the whole request was refused")
        if step == "timeout":  # not applied, but the client cannot know
            raise UncertainOutcome("timed out")
        for h in items:
            self.held[h.key] = in_ledger(h, f"id-{h.key}")
            if step == "ok":
                sent.results[h.key] = PostResult(h.key, PostOutcome.CREATED, ledger_id=f"id-{h.key}")
        if step == "lost":
            raise UncertainOutcome("timed out")

    def lookup(self, keys: list[str]) -> dict[str, LedgerJournal]:
        self.lookups.append(keys)
        return {k: self.held[k] for k in keys if k in self.held}

    def sleep(self, seconds: float) -> None:  # float ok: seconds
        self.slept += seconds
        self.now += seconds

    def run(self, items: list[Held], attempts: int = 4) -> dict[str, PostResult]:
        return send_missing(
            {h.key: h for h in items},
            held=lambda h: h,
            lookup=self.lookup,
            send=self.send,
            retry=RetryPolicy(attempts, sleep=self.sleep),
            settle_seconds=130.0,
            clock=lambda: self.now,
            ledger="Test",
        )


def test_an_unanswered_send_is_looked_up_after_it_settles_and_never_sent_twice():
    ledger = Ledgerish(["lost"])
    results = ledger.run([held("TB-1"), held("TB-2")])
    assert {k: r.outcome for k, r in results.items()} == {
        "TB-1": PostOutcome.FOUND,
        "TB-2": PostOutcome.FOUND,
    }
    assert ledger.sends == [["TB-1", "TB-2"]]
    assert ledger.lookups == [["TB-1", "TB-2"]]
    assert ledger.slept >= 130.0  # the lookup waited until the lost send could no longer commit


def test_a_clear_refusal_is_retried_without_a_lookup_and_a_whole_refusal_refuses_every_journal():
    ledger = Ledgerish(["throttled", "ok"])
    assert ledger.run([held("TB-1")])["TB-1"].outcome is PostOutcome.CREATED
    assert ledger.lookups == []
    assert len(ledger.sends) == 2
    refused = Ledgerish(["refused"]).run([held("TB-1"), held("TB-2")])
    assert {r.outcome for r in refused.values()} == {PostOutcome.REJECTED}


def test_retries_spent_after_an_unanswered_send_leave_the_journals_uncertain_for_the_next_run():
    ledger = Ledgerish(["timeout", "timeout"])
    assert ledger.run([held("TB-1")], attempts=2)["TB-1"].outcome is PostOutcome.UNCERTAIN
    assert ledger.lookups == [["TB-1"]]  # looked up once, between the two sends
    never = Ledgerish(["throttled", "throttled"]).run([held("TB-1")], attempts=2)
    assert never["TB-1"].outcome is PostOutcome.FAILED


def test_the_settle_wait_is_never_longer_than_the_settle_time_when_the_clock_stepped_back():
    slept: list[float] = []
    sent_at = 1_800_000_000.0  # float ok: seconds on Xero's limiter clock (the wall clock)
    # the write went unanswered; then NTP stepped the wall clock back an hour before the lookup
    wait_until_settled(sent_at, 330.0, lambda: sent_at - 3600, slept.append)
    assert slept == [330.0]  # Xero's settle time, not an hour and 330 s
