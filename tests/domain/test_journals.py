"""Journals refuse to exist unbalanced, unquantized or unkeyed."""

from datetime import date
from decimal import Decimal

import pytest

from connector.domain.errors import InvariantViolation
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget, journal_key, serial_of

COGS = LedgerTarget("5010", "Support Assistant", "US")
ACCRUED = LedgerTarget("2150")


def journal(*amounts: str, key: str = "TB-AC-261003-001", currency: str = "USD") -> Journal:
    targets = [COGS, ACCRUED, LedgerTarget("6110")]
    lines = tuple(JournalLine(targets[i], Decimal(a)) for i, a in enumerate(amounts))
    return Journal(key, "acme-us", JournalKind.USAGE_ACCRUAL, date(2026, 10, 3), currency, lines)


def test_a_balanced_journal_exists_and_reports_its_totals():
    j = journal("120.00", "-120.00")
    assert j.debit_total == j.credit_total == Decimal("120.00")


@pytest.mark.parametrize(
    ("amounts", "reason"),
    [
        (("120.00", "-119.99"), "does not balance"),
        (("120.001", "-120.001"), "minor units"),
        (("120.00",), "needs two"),
        (("0.00", "0.00"), "is zero"),
    ],
)
def test_an_invalid_journal_cannot_be_built(amounts, reason):
    with pytest.raises(InvariantViolation, match=reason):
        journal(*amounts)


def test_the_key_must_fit_a_quickbooks_docnumber():
    with pytest.raises(InvariantViolation, match=r"1\.\.21"):
        journal("1.00", "-1.00", key="TB-" + "X" * 20)


def test_keys_are_readable_deterministic_and_carry_their_serial():
    key = journal_key(JournalKind.USAGE_ACCRUAL, date(2026, 10, 3), 37)
    assert key == "TB-AC-261003-011"
    assert len(key) <= 21
    assert serial_of(key) == 37
    assert journal_key(JournalKind.RECLASS, date(2026, 11, 1), 1) == "TB-RC-261101-001"


def test_yen_journals_are_whole_yen():
    assert journal("1200", "-1200", currency="JPY").debit_total == Decimal(1200)
    with pytest.raises(InvariantViolation):
        journal("1200.5", "-1200.5", currency="JPY")


def test_targets_survive_their_text_key():
    target = LedgerTarget("510", tracking=(("Product", "Support Assistant"), ("Region", "EU")))
    assert LedgerTarget.from_key(target.key()) == target
    assert LedgerTarget.from_key(COGS.key()) == COGS
