"""Which mapping version is in force on a day: the newest one whose effective date has come."""

from datetime import date

import pytest

from connector.domain.mapping_history import MappingHistory
from tests.support import MINIMAL_MAPPING, fact, mapping


def version(number: int, effective: str, *, eng_category: str = "rnd", entity: str = "acme-us"):
    text = (
        MINIMAL_MAPPING.replace("mapping_version: 1", f"mapping_version: {number}")
        .replace("effective_from: 2026-01-01", f"effective_from: {effective}")
        .replace("    category: rnd\n  - id: shared", f"    category: {eng_category}\n  - id: shared")
        .replace("acme-us:", f"{entity}:")
    )
    return mapping(text, f"v{number}.yaml")


V1 = version(1, "2026-01-01")
V2 = version(2, "2026-10-01", eng_category="g_and_a")
V3 = version(3, "2026-09-01", eng_category="sales_marketing")  # newer, but reaching back before v2


def test_each_day_is_classified_by_the_newest_version_whose_date_has_come():
    history = MappingHistory.of([V1, V2])
    assert history.in_force("acme-us", date(2026, 9, 30)) is V1
    assert history.in_force("acme-us", date(2026, 10, 1)) is V2


def test_a_newer_version_with_an_earlier_date_overrides_every_older_version_from_that_date():
    history = MappingHistory.of([V3, V1, V2])  # any order in, ordered by version number
    assert [m.version for m in history.versions] == [1, 2, 3]
    assert history.in_force("acme-us", date(2026, 8, 31)) is V1
    assert history.in_force("acme-us", date(2026, 9, 15)) is V3
    assert history.in_force("acme-us", date(2026, 12, 1)) is V3  # v2 is never in force again
    spans = [(s.first_day, s.last_day, s.mapping.version) for s in history.spans("acme-us")]
    assert spans == [(None, date(2026, 8, 31), 1), (date(2026, 9, 1), None, 3)]


def test_before_the_first_effective_date_the_earliest_version_applies():
    history = MappingHistory.of([V2])
    assert history.in_force("acme-us", date(2020, 1, 1)) is V2


def test_an_entity_added_later_is_classified_by_the_versions_that_declare_it():
    later = version(4, "2026-11-01", entity="acme-uk")
    history = MappingHistory.of([V1, later])
    assert history.in_force("acme-uk", date(2026, 10, 1)) is later
    with pytest.raises(KeyError):
        history.spans("acme-de")


def test_every_allocation_records_the_version_and_rule_in_force_on_its_day():
    classifier = MappingHistory.of([V1, V3]).classifier()
    placed = [
        (a.fact.posting_date.isoformat(), a.rule_id, a.mapping_version, a.category.value, a.target.account)
        for a in classifier.classify_all(
            [
                fact("10.00", date(2026, 8, 31), project="proj_eng_a"),
                fact("10.00", date(2026, 9, 1), project="proj_eng_a"),
                fact("5.00", date(2026, 9, 1), project="proj_nobody"),
            ]
        )
    ]
    assert placed == [
        ("2026-08-31", "eng", 1, "rnd", "6110"),
        ("2026-09-01", "eng", 3, "sales_marketing", "6120"),
        ("2026-09-01", "suspense", 3, "suspense", "6190"),
    ]


def test_a_candidate_applied_now_replaces_the_versions_it_supersedes():
    history = MappingHistory.of([V1, V2])
    edited = version(2, "2026-09-01", eng_category="sales_marketing")
    assert list(history.with_newest(edited).versions) == [V1, edited]
    assert history.with_newest(V3).current is V3


def test_version_numbers_must_be_distinct_and_ordered():
    with pytest.raises(ValueError, match="distinct and in order"):
        MappingHistory((V2, V1))
