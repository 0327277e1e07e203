"""A bookmark and the last day its source has read: a pull that refused days holds its bookmark before
the first of them, yet read (and stored) every later day of its window — the source is as fresh as that
last day, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from connector.store.db import create_schema, make_engine
from connector.store.unit_of_work import UnitOfWork

AT = datetime(2026, 10, 16, 2, 30, tzinfo=UTC)
SOURCE = "warehouse.billing:proj-1"


def _mark(engine, source_id: str = SOURCE):
    with UnitOfWork(engine) as uow:
        [mark] = [m for m in uow.bookmarks.all() if m.source_id == source_id]
    return mark


def test_a_held_bookmark_has_read_through_its_window_and_an_advance_through_its_value(database_url):
    engine = make_engine(database_url)
    create_schema(engine)
    with UnitOfWork(engine) as uow:  # Oct 1-15 read, Oct 3 refused: the bookmark stands on the 2nd
        uow.bookmarks.hold(
            SOURCE, "2026-10-02", [date(2026, 10, 3)], "row 7", AT, date(2026, 10, 1), date(2026, 10, 15)
        )
        uow.commit()
    held = _mark(engine)
    assert (held.value, held.read_through, held.refused_days) == (
        "2026-10-02",
        date(2026, 10, 15),
        (date(2026, 10, 3),),
    )

    with UnitOfWork(engine) as uow:  # the next night reads the 3rd again, and the 16th
        uow.bookmarks.advance(SOURCE, "2026-10-16", AT, date(2026, 10, 3))
        uow.commit()
    assert (_mark(engine).value, _mark(engine).read_through) == ("2026-10-16", date(2026, 10, 16))
    engine.dispose()


def test_a_pull_of_an_earlier_window_leaves_the_last_day_read_where_it_was(database_url):
    """`pull --since … --until …` of days already read: the later days stay stored, the source as fresh."""
    engine = make_engine(database_url)
    create_schema(engine)
    with UnitOfWork(engine) as uow:
        uow.bookmarks.advance(SOURCE, "2026-10-15", AT, date(2026, 10, 1))
        uow.bookmarks.hold(
            SOURCE, "2026-10-04", [date(2026, 10, 5)], "row 7", AT, date(2026, 10, 1), date(2026, 10, 8)
        )
        uow.commit()
    held = _mark(engine)
    assert (held.value, held.read_through) == ("2026-10-04", date(2026, 10, 15))
    with UnitOfWork(engine) as uow:
        uow.bookmarks.advance(SOURCE, "2026-10-10", AT, date(2026, 10, 5))
        uow.commit()
    assert (_mark(engine).value, _mark(engine).read_through) == ("2026-10-10", date(2026, 10, 15))
    engine.dispose()


def test_a_bookmark_that_only_failed_has_read_nothing(database_url):
    engine = make_engine(database_url)
    create_schema(engine)
    with UnitOfWork(engine) as uow:
        uow.bookmarks.record_error(SOURCE, "HTTP 500", AT)
        uow.commit()
    assert (_mark(engine).value, _mark(engine).read_through) == ("", None)
    engine.dispose()
