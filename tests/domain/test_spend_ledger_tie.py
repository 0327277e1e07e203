"""The spend report's tie to the ledger (pure): each month's spend + the differences named = what the ledger
holds that month, whatever journals were moved, reversed or are not posted yet."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.finance_figures import PostedLine, spend_and_ledger
from connector.domain.journals import Bucket, JournalKind, LedgerTarget
from connector.domain.periods import Period

LABELS = {"5010": "AI COGS", "6010": "R&D"}
KINDS = [
    JournalKind.USAGE_ACCRUAL,
    JournalKind.TRUE_UP,
    JournalKind.REVERSAL,
    JournalKind.PREPAID_CONSUMPTION,
    JournalKind.EXPIRY_WRITE_OFF,
    JournalKind.REVENUE,  # not spend: in neither view
]
START = date(2026, 9, 1)


@st.composite
def posted_lines(draw):
    day = START + timedelta(days=draw(st.integers(0, 120)))
    moved = timedelta(days=draw(st.sampled_from([0, 0, 0, 3, 40])))  # most in place, some moved later
    kind = draw(st.sampled_from(KINDS))
    bucket = Bucket(
        "acme-us",
        kind,
        day,
        "openai",
        "org-1",
        LedgerTarget(draw(st.sampled_from(["5010", "6010", "9999"]))),
        draw(st.sampled_from(["USD", "EUR"])),
    )
    cents = draw(st.integers(-100_000, 100_000))
    status = draw(st.sampled_from(["posted", "posted", "posted", "held", "planned"]))
    key = f"TB-{draw(st.integers(1, 5)):03d}"
    return PostedLine(bucket, Decimal(cents).scaleb(-2), key, kind, day + moved, status)


@given(st.lists(posted_lines(), max_size=30))
def test_each_months_spend_and_its_differences_add_up_to_the_ledger_and_to_the_rows(lines):
    first, last = Period(2026, 10), Period(2026, 12)
    rows, ties = spend_and_ledger(lines, LABELS, first, last)
    for tie in ties:
        assert tie.spend + sum((d.amount for d in tie.differences), Decimal(0)) == tie.ledger
        mine = [r for r in rows if (r.keys[0], r.keys[2]) == (tie.month, tie.currency)]
        assert sum((r.figures[0] for r in mine), Decimal(0)) == tie.spend
        assert sum((r.figures[1] for r in mine), Decimal(0)) == tie.ledger
        assert all(d.key in d.why and d.amount for d in tie.differences)
    # the ledger's column is exactly what posted journals dated in the month book on spend accounts
    for month in ("2026-10", "2026-11", "2026-12"):
        for currency in ("USD", "EUR"):
            held = sum(
                (
                    line.amount
                    for line in lines
                    if line.status == "posted"
                    and str(Period.of(line.txn_date)) == month
                    and line.bucket.currency == currency
                    and line.bucket.kind is not JournalKind.REVENUE
                ),
                Decimal(0),
            )
            tie = next((t for t in ties if (t.month, t.currency) == (month, currency)), None)
            assert (tie.ledger if tie else Decimal(0)) == held


def test_a_journal_not_posted_yet_is_spend_the_ledger_does_not_hold():
    bucket = Bucket(
        "acme-us", JournalKind.TRUE_UP, date(2026, 10, 31), "openai", "org-1", LedgerTarget("5010"), "USD"
    )
    held = PostedLine(
        bucket, Decimal("100.00"), "TB-TU-261031-001", JournalKind.TRUE_UP, date(2026, 10, 31), "held"
    )
    rows, [tie] = spend_and_ledger([held], LABELS, Period(2026, 10), Period(2026, 10))
    assert [(*r.keys, *r.figures) for r in rows] == [
        ("2026-10", "AI COGS", "USD", Decimal("100.00"), Decimal("0.00"))
    ]
    [difference] = tie.differences
    assert (difference.amount, difference.why) == (
        Decimal("-100.00"),
        "TB-TU-261031-001 (invoice true-up, 2026-10-31) is held, not in the ledger yet: spend of 2026-10 "
        "the ledger does not hold",
    )


def test_the_reversal_of_promotional_credit_is_in_the_ledger_under_promotional_credits():
    labels = {**LABELS, "5090": "Promotional credits"}
    promo = Bucket(
        "acme-us",
        JournalKind.PROMOTIONAL_CREDIT,
        date(2026, 10, 31),
        "openai",
        "org-1",
        LedgerTarget("5090"),
        "USD",
    )
    mirror = Bucket(
        "acme-us", JournalKind.REVERSAL, date(2026, 11, 1), "openai", "org-1", LedgerTarget("5090"), "USD"
    )
    lines = [
        PostedLine(
            promo,
            Decimal("-20.00"),
            "TB-PR-261031-001",
            JournalKind.PROMOTIONAL_CREDIT,
            date(2026, 10, 31),
            "posted",
        ),
        PostedLine(
            mirror, Decimal("20.00"), "TB-RV-261101-001", JournalKind.REVERSAL, date(2026, 11, 1), "posted"
        ),
    ]
    rows, _ = spend_and_ledger(lines, labels, Period(2026, 10), Period(2026, 11))
    assert [(*r.keys, *r.figures) for r in rows] == [
        ("2026-10", "Promotional credits", "USD", Decimal("-20.00"), Decimal("-20.00")),
        ("2026-11", "Promotional credits", "USD", Decimal("0.00"), Decimal("20.00")),
    ]
