"""The day an import changed facts from, kept for the next plan (`uow.fact_marks`): the earliest of an
entity's marks is where the plan reaches back to; a planned mark is cleared, and a mark an import left
while that plan ran (after it was read) is kept for the next one — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from connector.domain.credits import CreditLot, LotVoid
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


def test_a_lot_recorded_changed_or_voided_leaves_a_mark_and_one_recorded_while_a_plan_ran_is_kept(
    database_url,
):
    """A lot's draws belong to days from its purchase on, which may be long planned: recording, changing or
    voiding it leaves the mark an import leaves. One recorded while a plan ran (after it read the marks)
    is kept for the next plan; before, each lot kept its own day, cleared wholesale by that plan."""
    engine = make_engine(database_url)
    create_schema(engine)
    lot = CreditLot("acme-us", "openai", "org-1", "RCPT-7", date(2026, 10, 1), Decimal("500.00"), "USD")
    with UnitOfWork(engine) as uow:
        uow.credit_lots.upsert(lot, import_id=None, now=AT)
        uow.commit()
    read = _plan_from(engine)
    assert read is not None
    assert (read.plan_from, read.by) == (date(2026, 10, 1), ("lot openai/org-1/RCPT-7",))
    late = CreditLot("acme-us", "openai", "org-1", "RCPT-8", date(2026, 9, 15), Decimal("50.00"), "USD")
    with UnitOfWork(engine) as uow:  # entered while the plan that read `read` runs
        uow.credit_lots.upsert(late, import_id=None, now=AT)
        uow.credit_lots.upsert(lot, import_id=None, now=AT)  # the same lot again, unchanged: no mark
        uow.commit()
    with UnitOfWork(engine) as uow:
        uow.fact_marks.planned("acme-us", read)
        uow.commit()
    after = _plan_from(engine)
    assert after is not None
    assert (after.plan_from, after.by) == (date(2026, 9, 15), ("lot openai/org-1/RCPT-8",))
    with UnitOfWork(engine) as uow:
        uow.fact_marks.planned("acme-us", after)
        uow.credit_lots.void(late, LotVoid(AT, "ada", "entered twice"))
        uow.commit()
    voided = _plan_from(engine)
    assert voided is not None
    assert (voided.plan_from, voided.by) == (date(2026, 9, 15), ("lot openai/org-1/RCPT-8",))
