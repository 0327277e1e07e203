"""Kept day sums brought up to date fact by fact (issue 17): what a set of facts summed, with some of them
taken back and others added, is what the remaining facts sum — row for row, the counts included, in
`UsageCosts` and `SpendSummary` alike — and the ids the sums keep are the remaining facts' ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain import classifier as classifier_module
from connector.domain.classifier import Classifier
from connector.domain.coverage import SpendSummary
from connector.domain.day_sums import DayInputs, DaySums, FactIds
from connector.domain.desired import UsageCosts
from connector.domain.running_sums import NotAdded, merge_rows
from tests.domain.test_desired_properties import HISTORY, MAPPING
from tests.domain.test_streamed_sums import CLASSIFIER, facts

ids = st.sets(st.integers(1, 200))


def sums_of(month: list) -> DaySums:
    allocations = CLASSIFIER.classify_all(month)
    usage = UsageCosts(HISTORY, "acme-us").add(allocations)
    summary = SpendSummary()
    summary.add(allocations)
    return DaySums(len(month), usage.state(), *summary.state())


@given(facts, st.data())
def test_taking_back_some_facts_and_adding_others_gives_the_sums_of_the_remaining_facts(month, data):
    kept = data.draw(st.lists(st.booleans(), min_size=len(month), max_size=len(month)))
    gone = [f for f, stays in zip(month, kept, strict=True) if not stays]
    stay = [f for f, stays in zip(month, kept, strict=True) if stays]
    new = data.draw(facts)
    updated = sums_of(month).updated(sums_of(gone), sums_of(new), FactIds())
    assert updated == sums_of(stay + new)  # the same rows (a row nothing is left in is gone), the same sums


@given(facts)
def test_nothing_can_be_taken_back_that_was_not_added(month):
    if not month:
        return
    with pytest.raises(NotAdded):
        merge_rows({}, sums_of(month).spend, take_back=True)


@given(ids, st.data())
def test_fact_ids_are_the_set_they_were_made_of_with_changes_applied(made_of, data):
    fact_ids = FactIds.of(made_of)
    assert set(fact_ids) == made_of
    assert len(fact_ids) == len(made_of)
    assert all((i in fact_ids) == (i in made_of) for i in range(0, 205))
    assert fact_ids.newest == max(made_of, default=0)
    gone = data.draw(st.sets(st.sampled_from(sorted(made_of)))) if made_of else set()
    new = data.draw(st.sets(st.integers(fact_ids.newest + 1, fact_ids.newest + 50)))
    changed = fact_ids.changed(gone, new)
    assert set(changed) == (made_of - gone) | new
    assert changed == FactIds.of((made_of - gone) | new)  # the runs as compact as if made afresh
    assert DaySums(ids=changed).ids == DaySums.of_data(DaySums(ids=changed).to_data()).ids


def test_day_inputs_are_read_back_and_older_keys_are_not():
    inputs = DayInputs.of((3, 41), "0.1", "acme-us", "2026-10-01", "mapping-hash", ["policy-hash"])
    assert DayInputs.parse(inputs.key) == inputs
    assert DayInputs.parse("9f" * 32) is None  # a digest kept before the facts' ids were: classified whole
    assert DayInputs.of((3, 41), "0.2", "acme-us", "2026-10-01", "mapping-hash", ["policy-hash"]) != inputs


@given(facts)
def test_a_classifier_that_forgets_decisions_beyond_its_bound_classifies_the_same(month):
    bounded = Classifier(MAPPING)
    saved = classifier_module.REMEMBERED
    classifier_module.REMEMBERED = 2
    try:
        assert bounded.classify_all(month + month) == Classifier(MAPPING).classify_all(month + month)
        assert len(bounded._shares) <= 2
    finally:
        classifier_module.REMEMBERED = saved
