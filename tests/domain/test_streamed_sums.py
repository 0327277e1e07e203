"""A plan sums a month's allocations as they stream in, chunk by chunk (`UsageCosts`, `SpendSummary`),
instead of holding them: however the stream is cut, the sums are the same, and no cent is lost or
misplaced — every usage allocation lands in exactly one bucket, capitalized exactly when its rule or the
fine-tuning policy says so."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.coverage import SpendSummary
from connector.domain.desired import CP, UsageCosts
from connector.domain.facts import ChargeCategory
from connector.domain.mapping import Category
from connector.domain.mapping_history import MappingHistory
from connector.domain.money import ZERO
from tests.domain.test_desired_properties import (
    ACCOUNTS,
    FIRST,
    HISTORY,
    MAPPING,
    PROJECTS,
    ROLE,
    cents,
    days,
)
from tests.support import fact

CLASSIFIER = MappingHistory.of([MAPPING]).classifier()
facts = st.lists(
    st.tuples(
        days,
        st.sampled_from(ACCOUNTS),
        st.sampled_from(PROJECTS),
        st.booleans(),
        cents,
        st.sampled_from(list(ChargeCategory)),
    ),
    max_size=25,
).map(
    lambda rows: [
        replace(
            fact(amount, day, account=account, project=project, line_item="ft-job" if tuned else f"l{i}"),
            charge_category=category,
        )
        for i, (day, account, project, tuned, amount, category) in enumerate(rows)
    ]
)
cuts = st.lists(st.integers(min_value=0, max_value=60), max_size=5)


def _chunks(items: list, cut_at: list[int]) -> list[list]:
    bounds = sorted({0, len(items), *(c for c in cut_at if c < len(items))})
    return [items[a:b] for a, b in pairwise(bounds)]


@given(facts, cuts)
def test_usage_costs_are_the_same_however_the_allocations_stream_in(month, cut_at):
    allocations = CLASSIFIER.classify_all(month)
    whole = UsageCosts(HISTORY, "acme-us").add(allocations).exact(ROLE)
    streamed = UsageCosts(HISTORY, "acme-us")
    for chunk in _chunks(allocations, cut_at):
        streamed.add(chunk)
    assert streamed.exact(ROLE) == whole
    usage = [a for a in allocations if a.fact.charge_category is ChargeCategory.USAGE]
    assert sum(whole.values(), ZERO) == sum((a.amount for a in usage), ZERO)
    policy = HISTORY.in_force("acme-us", FIRST)  # one policy version, in force all along
    capitalized = sum(
        (
            a.amount
            for a in usage
            if a.category is Category.CAPITALIZE
            or (a.category is not Category.SUSPENSE and policy.capitalization.capitalizes(a.fact))
        ),
        ZERO,
    )
    assert sum((v for b, v in whole.items() if b.kind == CP), ZERO) == capitalized


@given(facts, cuts)
def test_the_spend_summary_is_the_same_however_the_allocations_stream_in(month, cut_at):

    allocations = CLASSIFIER.classify_all(month)
    whole = SpendSummary.of(allocations)
    streamed = SpendSummary()
    for chunk in _chunks(allocations, cut_at):
        streamed.add(chunk)
    assert streamed.coverage() == whole.coverage()
    assert streamed.unmapped_patterns() == whole.unmapped_patterns()
    assert streamed.totals_by_target() == whole.totals_by_target()
    assert streamed.allocated == whole.allocated == sum((a.amount for a in allocations), ZERO)
    suspense = sum((a.amount for a in allocations if a.is_suspense), ZERO)
    assert sum(whole.suspense().values(), ZERO) == suspense
    assert sum((c.suspense for c in whole.coverage()), ZERO) == suspense
    assert sum((c.mapped for c in whole.coverage()), ZERO) == whole.allocated - suspense


def test_suspense_is_kept_per_provider_and_currency_never_added_across_currencies():
    """An account billed in euros and another in dollars, both unmapped: two amounts, each in its currency."""
    month = [
        fact("10.00", FIRST, project="proj_nobody_mapped", account="org-eu", currency="EUR"),
        fact("2.50", FIRST, project="proj_nobody_mapped", account="org-us", currency="USD"),
        fact("1.25", FIRST, project="proj_nobody_mapped", account="org-us", currency="USD", line_item="in"),
    ]
    summary = SpendSummary.of(CLASSIFIER.classify_all(month))
    assert summary.suspense() == {("openai", "EUR"): Decimal("10.00"), ("openai", "USD"): Decimal("3.75")}
    # the largest unmapped kinds of spend, the same project in two currencies: two patterns, never one sum
    assert {(u.currency, u.amount, u.facts) for u in summary.unmapped_patterns()} == {
        ("EUR", Decimal("10.00"), 1),
        ("USD", Decimal("3.75"), 2),
    }
