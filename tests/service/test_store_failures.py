"""The store fails under a run: a full disk (SQLite), a PostgreSQL connection reset while journals are
being posted. The run stops with a plain reason naming the database, nothing is half-posted, and the
next run goes on from what was committed — every journal in the ledger exactly once."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, event, text

from connector.domain.errors import StoreUnavailable
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World

OCT1 = date(2026, 10, 1)


def night(world: World, day: date, hour: int = 2):
    world.clock.night_after(day)
    world.clock.now = world.clock.now.replace(hour=hour)
    return sync(world.app, entity="acme-us", until=day)


def created_keys(world: World) -> list[str]:
    return sorted(world.ledger.journals)


def test_a_full_disk_stops_the_run_in_plain_words_and_the_next_run_resumes(world: World):
    if world.app.engine.dialect.name != "sqlite":
        pytest.skip("a full disk is simulated with SQLite's max_page_count")
    world.source.set("10.00", OCT1)
    assert night(world, OCT1).status == "succeeded"

    def full(dbapi_connection, _record):  # the file may not grow by one page: SQLITE_FULL
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(world.app.engine, "connect", full)
    world.app.engine.dispose()
    for n in range(1, 29):
        world.source.set("1.25", OCT1 + timedelta(days=n), project=f"proj_{n}" * 40, line_item="x" * 400)
    with pytest.raises(StoreUnavailable, match="is unavailable: database or disk is full") as caught:
        night(world, OCT1 + timedelta(days=28))
    assert "sqlite:///" in caught.value.message
    assert len(created_keys(world)) == 1  # nothing of the failed run reached the ledger half-done

    event.remove(world.app.engine, "connect", full)
    world.app.engine.dispose()
    resumed = night(world, OCT1 + timedelta(days=28), hour=3)
    assert resumed.status == "succeeded"
    assert len(created_keys(world)) == len(set(created_keys(world))) == 29
    assert night(world, OCT1 + timedelta(days=28), hour=4).plan.planned == []  # converged: nothing more


def test_a_connection_reset_while_posting_is_a_plain_failure_and_the_next_run_finds_what_was_posted(
    world: World,
):
    if world.app.engine.dialect.name != "postgresql":
        pytest.skip("a connection reset is made with pg_terminate_backend")
    for n in range(3):
        world.source.set(f"{n + 1}0.00", OCT1 + timedelta(days=n))
    admin = create_engine(world.app.engine.url)  # its own pool, with no hook
    resets: list[int] = []

    def reset_once(connection, _cursor, statement, _params, _context, _many):
        # the answers of the ledger are being recorded: the server drops this session mid-transaction
        if resets or not statement.startswith("UPDATE posting_attempts"):
            return
        pid = connection.connection.dbapi_connection.info.backend_pid
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        resets.append(pid)

    event.listen(world.app.engine, "before_cursor_execute", reset_once)
    failed = night(world, OCT1 + timedelta(days=2))
    assert failed.status == "failed"
    assert "is unavailable" in failed.reason
    assert "the database postgresql://tokenbooks:***@" in failed.reason  # named, its password not
    assert resets
    event.remove(world.app.engine, "before_cursor_execute", reset_once)
    admin.dispose()
    posted_by_the_failed_run = created_keys(world)
    assert posted_by_the_failed_run

    resumed = night(world, OCT1 + timedelta(days=2), hour=3)
    assert resumed.status == "succeeded"
    assert len(created_keys(world)) == len(set(created_keys(world))) == 3  # found, not created again
    assert set(resumed.post.found) == set(posted_by_the_failed_run)
    with UnitOfWork(world.app.engine) as uow:
        assert {j.status for j in uow.outbox.list("acme-us")} == {"posted"}
    assert sum(world.ledger.balance(a) for a in ("5010", "6110", "6120", "6130", "6190")) == Decimal("60.00")
