"""A correction booked for a locked month in a later period, as the close lists it: signed to the expense."""

from datetime import date
from decimal import Decimal

from connector.domain.close import BookedLater, booked_later
from connector.domain.journals import Bucket, Contribution, Journal, JournalKind, JournalLine, LedgerTarget
from connector.domain.periods import Period

OCTOBER = Period(2026, 10)
COGS, RND, ACCRUED = LedgerTarget("5010"), LedgerTarget("6110"), LedgerTarget("2150")


def _bucket(kind: JournalKind, target: LedgerTarget, day: date) -> Bucket:
    return Bucket("acme-us", kind, day, "openai", "org-1", target, "USD")


def _journal(
    kind: JournalKind, key: str, *parts: tuple[LedgerTarget, str, date], counter: str = "0"
) -> Journal:
    contributions = tuple(Contribution(_bucket(kind, t, day), Decimal(a)) for t, a, day in parts)
    lines = tuple(JournalLine(t, Decimal(a)) for t, a, _ in parts)
    if Decimal(counter):
        lines += (JournalLine(ACCRUED, Decimal(counter)),)
    first = min(day for _, _, day in parts)
    return Journal(
        key,
        "acme-us",
        kind,
        date(2026, 11, 1),
        "USD",
        lines,
        contributions=contributions,
        original_date=first,
    )


def _later(journal: Journal, period: Period = OCTOBER) -> BookedLater:
    found = booked_later(journal, period)
    assert found is not None, f"{journal.key} is not booked for {period}"
    return found


def test_a_lower_invoices_true_up_is_a_credit_and_a_late_accrual_a_debit():
    true_up = _journal(
        JournalKind.TRUE_UP, "TB-TU-261101-001", (COGS, "-47.87", date(2026, 10, 31)), counter="47.87"
    )
    later = _later(true_up)
    assert (later.amount, later.side, later.entry) == (
        Decimal("-47.87"),
        "credit",
        "credit 47.87 USD to the expense",
    )
    accrual = _journal(
        JournalKind.USAGE_ACCRUAL, "TB-AC-261101-001", (RND, "4.50", date(2026, 10, 2)), counter="-4.50"
    )
    assert _later(accrual).entry == "debit 4.50 USD to the expense"


def test_a_reclass_nets_to_zero_and_says_what_it_moved():
    reclass = _journal(
        JournalKind.RECLASS,
        "TB-RC-261101-001",
        (RND, "12.00", date(2026, 10, 5)),
        (COGS, "-12.00", date(2026, 10, 5)),
    )
    assert _later(reclass).side == "none"
    assert _later(reclass).entry == "nets to zero on the expense: 12.00 USD moved between its accounts"


def test_only_what_it_books_for_the_month_counts_and_a_journal_not_moved_is_none():
    both = _journal(
        JournalKind.USAGE_ACCRUAL,
        "TB-AC-261101-002",
        (COGS, "3.00", date(2026, 9, 30)),
        (RND, "5.00", date(2026, 10, 1)),
        counter="-8.00",
    )
    assert (_later(both).amount, _later(both).original_date) == (Decimal("5.00"), date(2026, 10, 1))
    assert booked_later(both, Period(2026, 8)) is None
