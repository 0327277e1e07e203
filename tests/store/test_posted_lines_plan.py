"""The spend report's posted lines (`store/outbox.py: posted_lines`, read by `report spend` and the
console's spend page) are found by index: a contribution by its entity and month, a journal by its
entity and date. An OR across the two tables let no index serve either side, so a month's report read
the entity's whole history (on a year's store of 20 years copied, 83–107 ms against 23–31 ms)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import event

from connector.store.db import create_schema, make_engine
from connector.store.unit_of_work import UnitOfWork


def test_a_months_posted_lines_are_found_by_index_not_by_scanning_the_entitys_history(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'tokenbooks.db'}")
    create_schema(engine)
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "FROM contributions" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    with UnitOfWork(engine) as uow:
        assert uow.outbox.posted_lines("acme-us", date(2026, 9, 1), date(2026, 9, 30)) == []
    event.remove(engine, "before_cursor_execute", seen)
    ((statement, parameters),) = statements
    with engine.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    # neither a scan nor a search on the entity alone (all its months): each side bounded by its dates
    assert not [step for step in plan if step.startswith("SCAN") or step.endswith("(entity=?)")], plan
    assert any("ix_contrib_period" in step for step in plan), plan
    assert any("ix_journals_txn_date" in step for step in plan), plan
    engine.dispose()
