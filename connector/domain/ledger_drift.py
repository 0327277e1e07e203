"""What a person changed in a posted journal, line by line, in plain words.

Reconcile's read-back compares each journal tokenbooks posted with the copy the ledger holds under its key.
What matters to the books is where each amount sits: the line's account and its class, department or
tracking options, with its signed amount. A changed description or a new line order is not a change to the
books; a line moved to another account or class with the same amount is ("line 2 moved from 6110 AI R&D
to 6130 AI G&A"), and so is a changed amount, a removed line or an added one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class HeldLine:
    """A journal line where the books see it: account and tracking as the ledger names them, amount signed
    (+ debit, − credit)."""

    account: str
    amount: Decimal
    tracking: tuple[str, ...] = ()  # "kind=option", e.g. "class=100", "Region=EU"

    def place(self) -> tuple[str, tuple[str, ...]]:
        return self.account, tuple(sorted(self.tracking))

    def identity(self) -> tuple[str, tuple[str, ...], Decimal]:
        return *self.place(), self.amount


@dataclass(frozen=True, slots=True)
class Labels:
    """How the ledger's identifiers read to a person: an account id or code → "6110 AI R&D"; a tracking
    entry "class=100" → "class Support Assistant"."""

    account: Callable[[str], str]
    tracking: Callable[[str], str]

    def place(self, line: HeldLine) -> str:
        options = ", ".join(self.tracking(t) for t in sorted(line.tracking))
        return f"{self.account(line.account)} ({options})" if options else self.account(line.account)

    def options(self, line: HeldLine) -> str:
        return ", ".join(self.tracking(t) for t in sorted(line.tracking)) or "no class or tracking"


def side(amount: Decimal) -> str:
    """A signed amount as an accountant says it: "debit 10.00", "credit 10.00"."""
    return f"{'debit' if amount >= 0 else 'credit'} {abs(amount)}"


def line_changes(ours: Sequence[HeldLine], theirs: Sequence[HeldLine], labels: Labels) -> list[str]:
    """What differs between the journal as posted (`ours`, in its line order: line numbers are ours) and
    as the ledger holds it (`theirs`); [] when every amount sits where it was posted.

    Lines found unchanged are set aside first (whatever their order); of the rest, a line of the ledger with
    the same amount as one of ours is that line moved, and the others are paired in order (an amount changed,
    perhaps moved too); what is left over was removed or added."""
    unmatched = Counter(line.identity() for line in theirs)
    rest: list[tuple[int, HeldLine]] = []
    for number, line in enumerate(ours, start=1):
        if unmatched[line.identity()] > 0:
            unmatched[line.identity()] -= 1
        else:
            rest.append((number, line))
    left = []
    for line in theirs:  # the ledger's lines no line of ours accounts for, in the ledger's order
        if unmatched[line.identity()] > 0:
            unmatched[line.identity()] -= 1
            left.append(line)
    changes: list[tuple[int, str]] = []
    unpaired: list[tuple[int, HeldLine]] = []
    for number, line in rest:
        moved = next((t for t in left if t.amount == line.amount), None)
        if moved is None:
            unpaired.append((number, line))
            continue
        left.remove(moved)
        changes.append((number, _moved(number, line, moved, labels)))
    for (number, line), now in zip(unpaired, left, strict=False):
        changes.append((number, _changed(number, line, now, labels)))
    for number, line in unpaired[len(left) :]:
        changes.append((number, f"line {number} ({side(line.amount)} on {labels.place(line)}) was removed"))
    changes.sort(key=lambda change: change[0])
    added = [
        f"a line was added: {side(line.amount)} on {labels.place(line)}" for line in left[len(unpaired) :]
    ]
    return [text for _, text in changes] + added


def _moved(number: int, ours: HeldLine, theirs: HeldLine, labels: Labels) -> str:
    if ours.account == theirs.account:
        return (
            f"line {number} ({side(ours.amount)} on {labels.account(ours.account)}) moved from "
            f"{labels.options(ours)} to {labels.options(theirs)}"
        )
    return f"line {number} ({side(ours.amount)}) moved from {labels.place(ours)} to {labels.place(theirs)}"


def _changed(number: int, ours: HeldLine, theirs: HeldLine, labels: Labels) -> str:
    if ours.place() == theirs.place():
        return (
            f"line {number} on {labels.place(ours)} changed from {side(ours.amount)} to {side(theirs.amount)}"
        )
    return (
        f"line {number} changed from {side(ours.amount)} on {labels.place(ours)} to "
        f"{side(theirs.amount)} on {labels.place(theirs)}"
    )
