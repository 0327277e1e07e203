"""The settle step: one pure answer to "what is in the ledger under these keys already?" for every ledger.

Given the journals about to be sent (each as the ledger would hold it) and what a lookup found under their
keys, decide per journal (the shape of cosmicpython's `determine_actions`: a pure function decides, a thin
shell acts):

- **posted** — the ledger holds the same content under the key (an earlier attempt landed): record it, send
  nothing;
- **send** — nothing under the key: send it;
- **refuse** — the key is there with different content (a person edited it, or another document took our
  number): never overwrite it, never accept it silently; refuse with a message naming the journal key, the
  ledger's entry and the field that differs.

"Same content" is the date and the postings (account as the ledger names it, signed amount), in any line
order. Memos, descriptions and status (a Xero draft) are not compared: they carry no accounting.

`send_missing` is the shell shared by the QuickBooks and Xero adapters around a write whose answer may be
lost: after an uncertain send it waits until that send can no longer commit (the ledger's `settle_seconds`),
looks the open keys up, settles what it finds, and sends only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

from connector.domain.errors import Rejected, Retriable, TokenbooksError, UncertainOutcome
from connector.ledgers.port import Held, LedgerJournal, PostOutcome, PostResult
from connector.retrying import RetryPolicy

__all__ = [
    "Action",
    "Decision",
    "Held",
    "Sent",
    "conflict",
    "decide",
    "send_missing",
    "wait_until_settled",
]

Posting = tuple[str, Decimal]  # (account as the ledger names it, signed amount: + debit, − credit)


class Action(StrEnum):
    POSTED = "posted"  # the same content is there already
    SEND = "send"  # nothing is there under the key
    REFUSE = "refuse"  # something different is there under the key


@dataclass(frozen=True, slots=True)
class Decision:
    key: str
    action: Action
    ledger_id: str | None = None
    reason: str = ""

    def result(self) -> PostResult:
        """The post result of a settled journal (posted → FOUND, refused → REJECTED); not for SEND."""
        if self.action is Action.POSTED:
            return PostResult(self.key, PostOutcome.FOUND, ledger_id=self.ledger_id)
        if self.action is Action.REFUSE:
            error = Rejected(
                self.reason,
                code="conflict",
                fix="if that entry is not tokenbooks' own, renumber it in the ledger; if it is and a person "
                "edited it, restore it or delete it so tokenbooks posts it again",
            )
            return PostResult.from_error(self.key, PostOutcome.REJECTED, error)
        raise ValueError(f"journal {self.key} is still to be sent: it has no result yet")


def decide(
    planned: Sequence[Held],
    found: Mapping[str, LedgerJournal],
    *,
    ledger: str,
    names: Mapping[str, str] | None = None,
) -> list[Decision]:
    """Per planned journal, in order: posted, send or refuse (see the module's docstring)."""
    decisions = []
    for held in planned:
        existing = found.get(held.key)
        if existing is None:
            decisions.append(Decision(held.key, Action.SEND))
            continue
        differs = conflict(held, existing, ledger=ledger, names=names or {})
        action = Action.REFUSE if differs else Action.POSTED
        decisions.append(Decision(held.key, action, existing.ledger_id, differs))
    return decisions


def conflict(held: Held, existing: LedgerJournal, *, ledger: str, names: Mapping[str, str]) -> str:
    """Why `existing` is not `held` ("" when it is): the journal key, the ledger's entry, the differing field."""
    theirs = tuple(sorted((line.account, line.amount) for line in existing.lines))
    if existing.txn_date != held.txn_date:
        field_, ours, seen = "date", str(held.txn_date), str(existing.txn_date)
    elif theirs != held.postings:
        field_, ours, seen = "lines", describe(held.postings, names), describe(theirs, names)
    else:
        return ""
    return (
        f"{ledger} already holds an entry under tokenbooks' key {held.key} (id {existing.ledger_id}) whose "
        f"content differs in its {field_}: {seen} in {ledger}, {ours} in tokenbooks' journal {held.key}; "
        "it was not sent again and not overwritten"
    )


def describe(postings: Sequence[Posting], names: Mapping[str, str]) -> str:
    """`Dr 5010 AI COGS 120.37, Cr 2150 Accrued AI costs 120.37`."""
    return ", ".join(
        f"{'Dr' if amount > 0 else 'Cr'} {names.get(account, account)} {abs(amount)}"
        for account, amount in sorted(postings, key=lambda p: (p[1] < 0, p[0]))
    )


# --------------------------------------------------------------------------------------------- the shell

Item = TypeVar("Item")


@dataclass
class Sent:
    """What one send settled (`results`), and the error to retry the rest with (`again`, None when done)."""

    results: dict[str, PostResult] = field(default_factory=dict)
    again: TokenbooksError | None = None
    uncertain: bool = False  # some of the rest may have been applied: look them up before sending again


@dataclass
class _Open(Generic[Item]):
    pending: dict[str, Item]
    done: dict[str, PostResult] = field(default_factory=dict)
    uncertain: bool = False  # a send may have been applied: look the open keys up before sending again
    uncertain_at: float | None = None  # float ok: seconds on `clock` when the first unanswered send left

    def take(self, sent: Sent) -> None:
        """Keep what a send settled (even when it failed afterwards: nothing may lose a create)."""
        for key, result in sent.results.items():
            self.done[key] = result
            self.pending.pop(key, None)

    def unanswered(self, sent_at: float) -> None:  # float ok: seconds
        self.uncertain = True
        self.uncertain_at = self.uncertain_at if self.uncertain_at is not None else sent_at


def send_missing(
    items: Mapping[str, Item],
    *,
    held: Callable[[Item], Held],
    lookup: Callable[[list[str]], Mapping[str, LedgerJournal]],
    send: Callable[[list[Item], Sent], None],
    retry: RetryPolicy,
    settle_seconds: float,  # float ok: seconds
    clock: Callable[[], float],  # float ok: seconds
    ledger: str,
    names: Callable[[], Mapping[str, str]] = dict,
    on_retry: Callable[[Retriable, int], None] | None = None,
) -> dict[str, PostResult]:
    """Send `items` (by journal key) exactly once: an uncertain send is settled by lookup before any resend.

    `send` sends what it is given and puts in `Sent` what it settled as it goes (so a failure half-way
    loses nothing), with `again` set to retry the rest; it raises `UncertainOutcome` when the whole
    answer was lost, `Rejected` when the ledger refused the request as a whole (every open journal is then
    refused with that message), and anything else that must stop the run. Retriable failures are retried
    by `retry`; once the retries are spent the open journals are FAILED, or UNCERTAIN when a send went
    unanswered (the next run looks them up first)."""
    state = _Open(dict(items))

    def attempt() -> None:
        if state.uncertain and state.uncertain_at is not None:
            # "not found" is final only once the unanswered send can no longer commit
            wait_until_settled(state.uncertain_at, settle_seconds, clock, retry.sleep)
            _settle_found(state, held, lookup, ledger, names)
            state.uncertain = False
        if not state.pending:
            return
        sent_at = clock()
        sent = Sent()
        try:
            send(list(state.pending.values()), sent)
        except UncertainOutcome:
            state.take(sent)
            state.unanswered(sent_at)
            raise
        except Rejected as refusal:
            state.take(sent)
            state.done |= {k: PostResult.from_error(k, PostOutcome.REJECTED, refusal) for k in state.pending}
            state.pending.clear()
            return
        except Retriable:
            if sent.results:  # it failed while settling an answer: what else landed is not known
                state.unanswered(sent_at)
            state.take(sent)
            raise
        state.take(sent)
        if sent.again is not None and state.pending:
            if sent.uncertain:
                state.unanswered(sent_at)
            raise sent.again

    try:
        retry.call(attempt, on_retry=on_retry)
    except Retriable as exc:
        # a send went unanswered and was not settled by a lookup since: the next run looks first
        outcome = PostOutcome.UNCERTAIN if state.uncertain else PostOutcome.FAILED
        state.done |= {k: PostResult.from_error(k, outcome, exc) for k in state.pending}
    return state.done


def _settle_found(
    state: _Open[Item],
    held: Callable[[Item], Held],
    lookup: Callable[[list[str]], Mapping[str, LedgerJournal]],
    ledger: str,
    names: Callable[[], Mapping[str, str]],
) -> None:
    found = lookup(list(state.pending))
    if not found:
        return
    planned = [held(state.pending[key]) for key in state.pending if key in found]
    settled = [d for d in decide(planned, found, ledger=ledger) if d.action is not Action.SEND]
    if any(d.action is Action.REFUSE for d in settled):  # read the chart only to word a refusal
        settled = decide(planned, found, ledger=ledger, names=names())
    for decision in settled:
        state.done[decision.key] = decision.result()
        state.pending.pop(decision.key)


def wait_until_settled(
    since: float,  # float ok: seconds on `clock`
    settle_seconds: float,  # float ok: seconds
    clock: Callable[[], float],  # float ok: seconds
    sleep: Callable[[float], None],
) -> None:
    """Sleep until `settle_seconds` have passed since `since`: a write the ledger did not answer can no
    longer commit after that, so a lookup that finds nothing then means it never will. Never longer than
    `settle_seconds`, even when `clock` (a wall clock, for Xero) stepped back since `since`."""
    remaining = min(since + settle_seconds - clock(), settle_seconds)
    if remaining > 0:
        sleep(remaining)
