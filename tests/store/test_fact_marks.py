"""The day an import changed facts from, kept for the next plan (`uow.fact_marks`): the earliest of an
entity's marks is where the plan reaches back to; a planned mark is cleared, and a mark an import left
while that plan ran (after it was read) is kept for the next one — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from connector.store.db import create_schema, make_engine
from connector.store.unit_of_work import UnitOfWork

AT = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)


def _plan_from(engine, entity: str = "acme-us"):
    with UnitOfWork(engine) as uow:
        return uow.fact_marks.plan_from(entity)


def test_a_mark_left_while_a_plan_ran_is_kept_for_the_next_plan(database_url):
    engine = make_engine(database_url)
    create_schema(engine)
    assert _plan_from(engine) is None
    with UnitOfWork(engine) as uow:
        uow.fact_marks.add("acme-us", date(2026, 9, 22), changed_by="sept-a", now=AT)
        uow.fact_marks.add("acme-us", date(2026, 9, 10), changed_by="sept-b", now=AT)
        uow.fact_marks.add("acme-eu", date(2026, 8, 1), changed_by="aug", now=AT)
        uow.commit()
    read = _plan_from(engine)
    assert read is not None
    assert read.plan_from == date(2026, 9, 10)
    with UnitOfWork(engine) as uow:  # an October export imported while the plan runs
        uow.fact_marks.add("acme-us", date(2026, 10, 3), changed_by="oct", now=AT)
        uow.commit()
    with UnitOfWork(engine) as uow:
        uow.fact_marks.planned("acme-us", read)
        uow.commit()
    after = _plan_from(engine)
    assert after is not None
    assert after.plan_from == date(2026, 10, 3)
    with UnitOfWork(engine) as uow:
        uow.fact_marks.planned("acme-us", after)
        uow.commit()
    assert _plan_from(engine) is None
    assert _plan_from(engine, "acme-eu").plan_from == date(2026, 8, 1)
