"""What went to suspense, as a run or a plan records it and as it is read back (metrics, a skipped plan)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.coverage import suspense_of_record, suspense_record

amounts = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2, allow_nan=False)
keys = st.tuples(st.sampled_from(["openai", "anthropic", "aws"]), st.sampled_from(["USD", "EUR", "JPY"]))


@given(st.dictionaries(keys, amounts, max_size=6))
def test_suspense_read_back_is_what_was_recorded_exactly(totals: dict):
    record = suspense_record(totals)
    assert [(r["provider"], r["currency"]) for r in record] == sorted(totals)  # one row each, in order
    assert suspense_of_record(record) == totals


def test_suspense_recorded_as_one_total_before_it_was_kept_per_currency_is_not_read_as_rows():
    assert suspense_of_record("10.00") is None  # the old form: one total of no provider or currency
    assert suspense_of_record([]) == {}
