"""The spend report's posted lines (`store/outbox.py: posted_lines`, read by `report spend` and the
console's spend page): a month's buckets and the corrections moved into it, each once, found by index (a
contribution by its entity and month, a journal by its entity and date). An OR across the two tables
let no index serve either side, so a month's report read the entity's whole history (a month on 21
years of books: 33–61 ms against 8 ms, SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import event

from connector.domain.journals import Bucket, Contribution, Journal, JournalKind, JournalLine, LedgerTarget
from connector.store.db import create_schema, make_engine
from connector.store.unit_of_work import UnitOfWork

NOW = datetime(2026, 10, 2, 2, 0, tzinfo=UTC)


def usage(key: str, entity: str, bucket_day: date, dated: date) -> Journal:
    """A day's usage accrual of $5 on the bucket of `bucket_day`, dated `dated` (later when the bucket's
    month was locked: the correction moved to the first open day)."""
    cogs = LedgerTarget("5010")
    bucket = Bucket(entity, JournalKind.USAGE_ACCRUAL, bucket_day, "openai", "org-1", cogs, "USD")
    lines = (JournalLine(cogs, Decimal("5.00")), JournalLine(LedgerTarget("2150"), Decimal("-5.00")))
    moved = bucket_day if dated != bucket_day else None
    return Journal(
        key,
        entity,
        JournalKind.USAGE_ACCRUAL,
        dated,
        "USD",
        lines,
        contributions=(Contribution(bucket, Decimal("5.00")),),
        original_date=moved,
    )


def test_a_months_lines_are_its_buckets_and_the_corrections_moved_into_it_each_once(database_url):
    """August was locked when a late August restatement was booked: its journal is dated 1 September.
    August's report holds it (its bucket), September's too (where the ledger holds it), once each; a
    journal of September's own, of another entity, or of October is where it belongs."""
    engine = make_engine(database_url)
    create_schema(engine)
    with UnitOfWork(engine) as uow:
        for journal in (
            usage("TB-SEP", "acme-us", date(2026, 9, 5), date(2026, 9, 5)),
            usage("TB-MOVED", "acme-us", date(2026, 8, 20), date(2026, 9, 1)),
            usage("TB-CA", "acme-ca", date(2026, 9, 3), date(2026, 9, 3)),
            usage("TB-OCT", "acme-us", date(2026, 10, 1), date(2026, 10, 1)),
        ):
            uow.outbox.add(journal, ledger="quickbooks", run_id=None, now=NOW)
        uow.commit()
    with UnitOfWork(engine) as uow:
        september = uow.outbox.posted_lines("acme-us", date(2026, 9, 1), date(2026, 9, 30))
        august = uow.outbox.posted_lines("acme-us", date(2026, 8, 1), date(2026, 8, 31))
        summer = uow.outbox.posted_lines("acme-us", date(2026, 8, 1), date(2026, 9, 30))
    assert sorted(line.key for line in september) == ["TB-MOVED", "TB-SEP"]
    moved = next(line for line in september if line.key == "TB-MOVED")
    assert (moved.bucket.period, moved.txn_date, moved.amount) == (
        date(2026, 8, 20),
        date(2026, 9, 1),
        Decimal("5.00"),
    )
    assert [line.key for line in august] == ["TB-MOVED"]
    assert sorted(line.key for line in summer) == ["TB-MOVED", "TB-SEP"]  # in both ways, read once
    engine.dispose()


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
    plan = []
    with engine.connect() as connection:
        for statement, parameters in statements:
            plan += [
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]
    # neither a scan nor a search on the entity alone (all its months): each read bounded by its dates
    assert not [step for step in plan if step.startswith("SCAN") or step.endswith("(entity=?)")], plan
    assert any("ix_contrib_period" in step for step in plan), plan
    assert any("ix_journals_txn_date" in step for step in plan), plan
    engine.dispose()
