"""Backup and restore of the store, as docs/deployment.md says to do them: a store restored from a backup
has forgotten what it posted since, and the next run looks those journals up in the ledger instead of
posting them twice."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from connector.service.audit import verify_chain
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World

OCT1, OCT2 = date(2026, 10, 1), date(2026, 10, 2)


def night(world: World, day: date, hour: int = 2):
    world.clock.night_after(day)
    world.clock.now = world.clock.now.replace(hour=hour)
    return sync(world.app, entity="acme-us", until=day)


def test_a_restored_store_runs_again_without_posting_anything_twice(world: World, tmp_path: Path):
    store = (
        SqliteStore(world) if world.app.engine.dialect.name == "sqlite" else PostgresStore(world, tmp_path)
    )
    world.source.set("120.00", OCT1)
    assert night(world, OCT1).status == "succeeded"
    store.back_up(tmp_path / "backup")  # as docs/deployment.md says, while the store is in use
    world.source.set("80.00", OCT2)
    assert night(world, OCT2).status == "succeeded"
    assert sorted(world.ledger.journals) == ["TB-AC-261001-001", "TB-AC-261002-001"]

    world.app.engine.dispose()  # the service is stopped; the backup is restored
    store.restore(tmp_path / "backup")
    assert verify_chain(world.app.store).intact  # the restored store proves its own history

    again = night(world, OCT2, hour=3)
    assert again.status == "succeeded"
    assert again.post.posted == []
    assert again.post.found == ["TB-AC-261002-001"]  # the ledger remembered what the store forgot
    assert sorted(world.ledger.journals) == ["TB-AC-261001-001", "TB-AC-261002-001"]  # nothing twice
    assert world.ledger.balance("2150") == Decimal("-200.00")
    with UnitOfWork(world.app.engine) as uow:
        assert {j.status for j in uow.outbox.list("acme-us")} == {"posted"}
    assert night(world, OCT2, hour=4).plan.planned == []


class SqliteStore:
    def __init__(self, world: World) -> None:
        self.database = Path(world.app.engine.url.database)

    def back_up(self, to: Path) -> None:
        live, copy = sqlite3.connect(self.database), sqlite3.connect(to)
        live.backup(copy)  # what `sqlite3 tokenbooks.db ".backup …"` does
        live.close()
        copy.close()

    def restore(self, backup: Path) -> None:
        for leftover in self.database.parent.glob(self.database.name + "-*"):
            leftover.unlink()  # the live store's WAL must not be replayed over the backup
        self.database.write_bytes(backup.read_bytes())


class PostgresStore:
    """pg_dump and pg_restore, on the test's own schema."""

    def __init__(self, world: World, tmp_path: Path) -> None:
        for tool in ("pg_dump", "pg_restore"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is not installed (Debian: postgresql-client)")
        url = world.app.engine.url
        self.schema = url.query["application_name"]  # tests/conftest.py names the schema so
        self.engine = world.app.engine
        self.dsn = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)

    def back_up(self, to: Path) -> None:
        subprocess.run(
            ["pg_dump", "--format=custom", f"--schema={self.schema}", f"--file={to}", self.dsn], check=True
        )

    def restore(self, backup: Path) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
        self.engine.dispose()
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={self.dsn}", str(backup)], check=True)
