"""Backup and restore of the store, as docs/deployment.md says to do them: a store restored from a backup
has forgotten what it posted since, and the next run looks those journals up in the ledger instead of
posting them twice."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector.service.audit import verify_chain
from connector.service.sync import sync
from connector.store.repositories import UnitOfWork
from tests.service.conftest import World

OCT1, OCT2 = date(2026, 10, 1), date(2026, 10, 2)


def night(world: World, day: date, hour: int = 2):
    world.clock.night_after(day)
    world.clock.now = world.clock.now.replace(hour=hour)
    return sync(world.app, entity="acme-us", until=day)


def test_a_restored_store_runs_again_without_posting_anything_twice(world: World, tmp_path: Path):
    if world.app.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite online backup (`sqlite3 … .backup`); PostgreSQL's is pg_dump, the same idea")
    database = Path(world.app.engine.url.database)
    backup = tmp_path / "backup.db"
    world.source.set("120.00", OCT1)
    assert night(world, OCT1).status == "succeeded"
    live, copy = sqlite3.connect(database), sqlite3.connect(backup)
    live.backup(copy)  # what `sqlite3 tokenbooks.db ".backup …"` does, while the store is in use
    live.close()
    copy.close()
    world.source.set("80.00", OCT2)
    assert night(world, OCT2).status == "succeeded"
    assert sorted(world.ledger.journals) == ["TB-AC-261001-001", "TB-AC-261002-001"]

    world.app.engine.dispose()  # the service is stopped; the backup is copied into place
    for leftover in database.parent.glob(database.name + "-*"):
        leftover.unlink()  # the live store's WAL must not be replayed over the backup
    database.write_bytes(backup.read_bytes())
    assert verify_chain(world.app.engine).intact  # the restored store proves its own history

    again = night(world, OCT2, hour=3)
    assert again.status == "succeeded"
    assert again.post.posted == []
    assert again.post.found == ["TB-AC-261002-001"]  # the ledger remembered what the store forgot
    assert sorted(world.ledger.journals) == ["TB-AC-261001-001", "TB-AC-261002-001"]  # nothing twice
    assert world.ledger.balance("2150") == Decimal("-200.00")
    with UnitOfWork(world.app.engine) as uow:
        assert {j.status for j in uow.outbox.list("acme-us")} == {"posted"}
    assert night(world, OCT2, hour=4).plan.planned == []
