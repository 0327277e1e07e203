"""The fake store (tests/fake_store.py) answers as the SQL store does: the same records stored in both, the
same reads asked of both, on SQLite and PostgreSQL. This is what lets service tests trust the fake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector.domain.alerts import Alert
from connector.store.db import create_schema, make_engine
from connector.store.port import Store
from connector.store.records import AllocationRecord, ConnectionRecord, ReconciliationRecord, RunRecord
from connector.store.tables import AllocationRow, ConnectionRow, FactRow, ReconciliationRow, RunRow
from connector.store.unit_of_work import SqlStore
from tests.fake_store import FakeStore

T0 = datetime(2026, 11, 1, 2, 30, tzinfo=UTC)
RUNS = [
    RunRecord("a", "sync", "acme-us", "cron", T0, T0, "succeeded", None),
    RunRecord("b", "sync", "acme-us", "cron", T0 + timedelta(hours=1), None, "failed", "boom"),
    RunRecord("c", "reconcile", "acme-us", "ana", T0 + timedelta(hours=2), None, "succeeded", None),
    RunRecord("d", "sync", "acme-eu", "cron", T0 + timedelta(hours=3), None, "partial", "one left"),
]
RECONCILIATIONS = [
    ReconciliationRecord(
        n,
        None,
        "acme-us",
        "openai",
        account,
        period,
        "USD",
        Decimal("1.00"),
        None,
        Decimal("1.00"),
        None,
        status,
        [],
        T0,
        None,
        None,
        None,
    )
    for n, account, period, status in [
        (1, "org-1", "2026-09", "drift"),
        (2, "org-1", "2026-10", "variance"),
        (3, "org-1", "2026-10", "matched"),
        (4, "org-2", "2026-10", "unknown_account"),
    ]
]
CONNECTIONS = [
    ConnectionRecord(1, "xero", "acme-us", "t-1", "Acme", "ok", None, T0, None, None, None, None, None, None),
    ConnectionRecord(2, "quickbooks", "acme-eu", "r-1", None, "reconnect_needed", "expired", T0, *[None] * 6),
]
ALLOCATIONS = [
    ("acme-us", AllocationRecord("openai", date(2026, 10, day), category, "5010", Decimal(amount)))
    for day, category, amount in [(1, "cogs", "1.50"), (2, "suspense", "2.25"), (31, "rnd", "3.00")]
]
ALERT = Alert("suspense", "acme-us", "openai", "2026-10", "2.25 in suspense", "add a rule")


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[Store, FakeStore]]:
    engine = make_engine(database_url)
    create_schema(engine)
    fake = FakeStore()
    with SqlStore(engine).unit_of_work() as uow:
        uow.session.add(FactRow(id=1, entity="acme-us", source="s", provider="openai", provider_account="org-1",
                                natural_key="k", version=1, charge_date=date(2026, 10, 1),
                                posting_date=date(2026, 10, 1), dimensions={}, quantity=None, unit=None,
                                amount=Decimal("6.75"), currency="USD", cost_basis="billed",
                                charge_category="usage", is_current=True, pulled_at=T0))  # fmt: skip
        uow.session.flush()
        for record in RUNS:
            uow.session.add(RunRow(**asdict(record)))
        for record in RECONCILIATIONS:
            uow.session.add(ReconciliationRow(**asdict(record)))
        for record in CONNECTIONS:
            uow.session.add(ConnectionRow(**asdict(record), token_ciphertext="sealed"))
        for entity, a in ALLOCATIONS:
            uow.session.add(AllocationRow(fact_id=1, entity=entity, provider_account="org-1", currency="USD",
                                          rule_id="r", mapping_version=1, percent=Decimal(100), **asdict(a)))  # fmt: skip
        uow.commit()
    fake.uow.runs.runs += RUNS
    fake.uow.reconciliations.stored += RECONCILIATIONS
    fake.uow.connections.stored += CONNECTIONS
    fake.uow.allocations.stored += ALLOCATIONS
    yield SqlStore(engine), fake
    engine.dispose()


READS = {
    "runs.latest": lambda uow: uow.runs.latest(3),
    "runs.latest sync": lambda uow: uow.runs.latest(10, kind="sync"),
    "runs.last_per_entity": lambda uow: uow.runs.last_per_entity(),
    "runs.last_per_entity ok syncs": lambda uow: uow.runs.last_per_entity("sync", ("succeeded", "partial")),
    "reconciliations.latest_period": lambda uow: uow.reconciliations.latest_period("acme-us"),
    "reconciliations.latest": lambda uow: uow.reconciliations.latest("acme-us", "2026-10"),
    "reconciliations of none": lambda uow: uow.reconciliations.latest_period("nobody"),
    "connections.all": lambda uow: uow.connections.all(),
    "connections.for_entity": lambda uow: uow.connections.for_entity("acme-eu"),
    "allocations.between": lambda uow: uow.allocations.between(
        "acme-us", date(2026, 10, 2), date(2026, 10, 31)
    ),
}


@pytest.mark.parametrize("read", list(READS))
def test_the_fake_store_reads_what_the_sql_store_reads(stores, read):
    sql, fake = stores
    with sql.unit_of_work() as sql_uow, fake.unit_of_work() as fake_uow:
        assert READS[read](fake_uow) == READS[read](sql_uow)


def test_alerts_are_kept_sent_and_listed_alike(stores):
    sql, fake = stores
    answers = []
    for store in (sql, fake):
        with store.unit_of_work() as uow:
            uow.alerts.add(ALERT, now=T0, run_id="a")
            uow.commit()
        with store.unit_of_work() as uow:
            [unsent] = uow.alerts.unsent()
            uow.alerts.delivered(unsent.id, ["webhook"], None, T0)
            uow.commit()
        with store.unit_of_work() as uow:
            answers.append((uow.alerts.dedup_keys(), uow.alerts.unsent(), uow.alerts.newest(5)))
    assert answers[0] == answers[1]
    assert answers[0][0] == {ALERT.dedup_key}
    assert answers[0][2][0].channels == ["webhook"]
