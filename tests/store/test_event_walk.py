"""The event log walked in order (`EventRepository.in_order`, what `audit verify` hashes), on each backend:
every event once, oldest first, exactly as stored, whatever the page and read sizes — while the walk holds
the data of a few events at a time, never a page of them (a backfill's commitment event is tens of MB)."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime

import pytest

from connector.domain.audit_chain import row_hash
from connector.store import audit_log
from connector.store.db import create_schema, make_engine
from connector.store.unit_of_work import UnitOfWork

NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
BIG = 12  # events of about 1 MB each: a backfill's `facts.committed`, in miniature


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    create_schema(engine)
    with UnitOfWork(engine) as uow:
        for n in range(BIG):
            uow.events.append("run.started", f"run {n}", run_id=f"run-{n}", now=NOW, data={"n": n})
            facts = [f"openai.costs org-1 2026-10-{1 + n % 28:02d} key-{k:07d} v1 {n}" for k in range(18_000)]
            uow.events.append(
                "facts.committed", f"backfill {n}", run_id=f"run-{n}", now=NOW, data={"f": facts}
            )
        uow.commit()
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("batch", "chars"), [(5_000, audit_log.DATA_READ_CHARS), (3, 1), (7, 2_500_000)])
def test_the_walk_gives_every_event_once_in_order_as_stored(engine, monkeypatch, batch, chars):
    monkeypatch.setattr(audit_log, "DATA_READ_CHARS", chars)
    with UnitOfWork(engine) as uow:
        walked = list(uow.events.in_order(batch))
        stored = uow.events.all()
    assert walked == stored
    assert [e.id for e in walked] == sorted({e.id for e in walked})
    assert all(row_hash(e) == e.hash for e in walked)


def test_the_walk_holds_a_few_events_data_not_a_page_of_them(engine, monkeypatch):
    """Twelve events of ~1 MB of JSON in one page of 5,000, read one at a time (the read budget below one
    event): the walk, hashing each and keeping the previous one as verify does, stays under what four of
    them take parsed, where holding the page held all twelve."""
    monkeypatch.setattr(audit_log, "DATA_READ_CHARS", 1)
    with UnitOfWork(engine) as uow:
        one = next(e for e in uow.events.all() if e.data.get("f"))
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        copy = json.loads(json.dumps(one.data))  # what one event's data takes parsed
        parsed = tracemalloc.get_traced_memory()[0] - before
        del copy, one
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        previous = None
        for event in uow.events.in_order():
            assert row_hash(event) == event.hash
            previous = event  # verify keeps the previous event for the link
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    assert previous is not None
    assert peak < 4 * parsed, (peak, parsed)
