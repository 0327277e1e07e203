"""Late usage: what the provider changed after the invoice's issue date, read from the facts' versions."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.reconcile import FactVersion, late_usage

CUTOFF = datetime(2026, 11, 4, tzinfo=UTC)  # the end of an invoice issued on 3 November
BEFORE, AFTER = CUTOFF - timedelta(days=3), CUTOFF + timedelta(days=2)


def version(day: int, amount: str, pulled: datetime, superseded: datetime | None = None) -> FactVersion:
    return FactVersion(
        "openai.costs", "org-1", date(2026, 10, day), Decimal(amount), pulled, superseded, superseded is None
    )


def test_a_day_first_read_after_the_invoice_is_a_backfill_not_late_usage():
    assert late_usage([version(3, "100.00", AFTER), version(20, "50.00", AFTER)], CUTOFF) == 0


def test_restated_new_and_withdrawn_buckets_of_a_day_read_before_the_invoice_are_late():
    versions = [
        version(3, "100.00", BEFORE, superseded=AFTER),  # restated to 104.50 afterwards
        version(3, "104.50", AFTER),
        version(3, "2.00", AFTER),  # a new bucket of a day already read
        version(4, "10.00", BEFORE, superseded=AFTER),  # withdrawn afterwards
        version(20, "50.00", AFTER),  # a day never read before: not late
    ]
    assert late_usage(versions, CUTOFF) == Decimal("-3.50")  # +4.50 + 2.00 − 10.00


amounts = st.decimals(min_value=-1000, max_value=1000, places=2)


@given(st.lists(st.tuples(st.integers(1, 31), amounts), max_size=20))
def test_whatever_tokenbooks_first_reads_after_the_invoice_is_never_late(rows):
    assert late_usage([version(day, str(amount), AFTER) for day, amount in rows], CUTOFF) == 0
