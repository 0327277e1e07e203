"""The bulk paths of the store, on each backend: facts written below the ORM (`store/bulk.py`: executemany
on SQLite, COPY on PostgreSQL) read back exactly, a re-read window is replaced day by day with the right
versions, a plan's chunked read returns every current fact once, and allocations are rewritten only
where they changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector.domain.facts import Dimensions, Fact, natural_key
from connector.domain.mapping_history import MappingHistory
from connector.store.db import create_schema, make_engine
from connector.store.tables import FactRow
from connector.store.unit_of_work import UnitOfWork
from tests.support import FULL_MAPPING, mapping

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
FIRST, LAST = date(2026, 10, 1), date(2026, 10, 3)


def _fact(n: int, day: date, amount: str, **changes) -> Fact:
    fact = Fact(
        entity="acme-us",
        provider="openai",
        provider_account="org-1",
        charge_date=day,
        posting_date=day,
        amount=Decimal(amount),
        currency="USD",
        natural_key=natural_key("openai", "org-1", "costs", n),
        dimensions=Dimensions.of(
            project=f"proj_{n % 3}",
            line_item="gpt-4.1, output",
            note="café ✓ tab\there, line\nbreak, back\\slash",
        ),
        source="openai.costs",
    )
    return replace(fact, **changes)


MONTH = [
    _fact(1, FIRST, "0.000000000001"),
    _fact(2, FIRST, "-12345678901.123456789", quantity=Decimal("1234567.000000000001"), unit="tokens"),
    _fact(3, date(2026, 10, 2), "7.10"),
    _fact(4, date(2026, 10, 2), "0"),
    _fact(5, LAST, "99999999.99999999"),
]


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


def _replace(engine, facts: list[Fact], run_id: str = "run-1"):
    with UnitOfWork(engine) as uow:
        result = uow.facts.replace_window(
            source="openai.costs",
            provider_account="org-1",
            first_day=FIRST,
            last_day=LAST,
            facts=facts,
            raw_payload_ids={},
            run_id=run_id,
            now=NOW,
        )
        uow.commit()
    return result


def _current(engine, **kwargs) -> list[Fact]:
    with UnitOfWork(engine) as uow:
        return [stored.fact for stored in uow.facts.current("acme-us", **kwargs)]


def test_facts_written_in_bulk_read_back_exactly_through_the_bulk_read_and_the_orm(engine):
    result = _replace(engine, MONTH)
    assert (result.inserted, result.restated, result.withdrawn, result.unchanged) == (5, 0, 0, 0)
    assert _current(engine) == MONTH  # every digit, the day, the dimensions, quantity and unit
    with UnitOfWork(engine) as uow:
        rows = uow.session.exec(select(FactRow).order_by(FactRow.id)).scalars().all()
        assert [row.amount for row in rows] == [f.amount for f in MONTH]
        assert [row.dimensions for row in rows] == [f.dimensions.as_dict() for f in MONTH]
        assert {(row.is_current, row.run_id, row.version) for row in rows} == {(True, "run-1", 1)}
        assert all(row.pulled_at.replace(tzinfo=UTC) == NOW for row in rows)


def test_a_re_read_window_restates_moves_withdraws_and_adds_with_the_right_versions(engine):
    _replace(engine, MONTH)
    again = [
        replace(MONTH[0], amount=Decimal("0.000000000002")),  # restated
        MONTH[1],
        replace(MONTH[2], charge_date=LAST, posting_date=LAST),  # the provider moved it to another day
        # MONTH[3] is no longer reported: withdrawn
        MONTH[4],
        _fact(6, LAST, "3.50"),  # new
    ]
    result = _replace(engine, again, run_id="run-2")
    assert (result.inserted, result.restated, result.withdrawn, result.unchanged) == (1, 2, 1, 2)
    assert result.changed_days == {FIRST, date(2026, 10, 2), LAST}
    current = {f.natural_key: f for f in _current(engine)}
    assert set(current) == {f.natural_key for f in again}
    assert current[MONTH[0].natural_key].version == 2
    assert current[MONTH[2].natural_key].version == 2
    assert current[MONTH[2].natural_key].charge_date == LAST
    assert current[_fact(6, LAST, "3.50").natural_key].version == 1
    with UnitOfWork(engine) as uow:
        history = uow.session.exec(select(FactRow).where(FactRow.is_current.is_(False))).scalars().all()
    assert sorted((row.natural_key, row.version) for row in history) == sorted(
        (f.natural_key, 1) for f in (MONTH[0], MONTH[2], MONTH[3])
    )
    assert _replace(engine, again, run_id="run-3").changed is False  # the same window again: nothing


def test_a_re_read_bucket_posted_on_another_day_is_restated_and_both_posting_days_change(engine):
    """The provider re-reports a bucket of the same charge day and amount but books it on the next day
    (a late restatement after its billing period was re-cut): the same content, yet a new version, and
    both posting days changed, the old one so its journal gives the amount back, the new one to post it."""
    _replace(engine, MONTH)
    before = _replace(engine, MONTH, run_id="run-2").digests
    shifted = replace(MONTH[2], posting_date=LAST)  # charged 2 October as before, posted on the 3rd
    result = _replace(engine, [*MONTH[:2], shifted, *MONTH[3:]], run_id="run-3")
    assert (result.inserted, result.restated, result.withdrawn, result.unchanged) == (0, 1, 0, 4)
    assert result.changed_days == {date(2026, 10, 2), LAST}
    current = {f.natural_key: f for f in _current(engine)}
    assert (current[shifted.natural_key].posting_date, current[shifted.natural_key].version) == (LAST, 2)
    assert [
        f.natural_key for f in _current(engine, first_day=date(2026, 10, 2), last_day=date(2026, 10, 2))
    ] == [MONTH[3].natural_key]
    assert result.digests is not None
    assert before is not None
    assert result.digests[date(2026, 10, 2)] != before[date(2026, 10, 2)]  # the day's commitment follows
    assert result.digests[FIRST] == before[FIRST]


def test_a_plan_reads_the_current_facts_in_chunks_day_by_day_each_once(engine):
    _replace(engine, MONTH)
    with UnitOfWork(engine) as uow:
        chunks = list(uow.facts.current_chunks("acme-us", FIRST, LAST, size=1))
        whole = uow.facts.current("acme-us")
        window = uow.facts.current("acme-us", date(2026, 10, 2), date(2026, 10, 2))
    assert [len(chunk) for chunk in chunks] == [1] * 5
    streamed = [stored for chunk in chunks for stored in chunk]
    assert streamed == whole
    assert [s.fact.posting_date for s in streamed] == sorted(s.fact.posting_date for s in streamed)
    assert [s.fact for s in window] == MONTH[2:4]


def test_allocations_are_rewritten_only_for_facts_whose_placement_changed(engine):
    _replace(engine, MONTH)
    classifier = MappingHistory.of([mapping(FULL_MAPPING)]).classifier()
    with UnitOfWork(engine) as uow:
        stored = uow.facts.current("acme-us")
        owners, allocations = classifier.classify_keyed((s.id, s.fact) for s in stored)
        ids = [s.id for s in stored]
        assert uow.allocations.replace_for_facts(owners, allocations, stored, run_id="run-1") == len(ids)
        assert uow.allocations.replace_for_facts(owners, allocations, stored, run_id="run-2") == 0
        moved = [
            a._replace(rule_id="by-hand") if o == ids[0] else a
            for o, a in zip(owners, allocations, strict=True)
        ]
        assert uow.allocations.replace_for_facts(owners, moved, stored, run_id="run-3") == 1
        uow.commit()
        placed = uow.allocations._placements(stored)
    assert sum(len(p) for p in placed.values()) == len(
        {(o, a) for o, a in zip(owners, allocations, strict=True)}
    )
    assert {rule for rule, *_ in placed[ids[0]]} == {"by-hand"}
