"""The fake store (tests/fake_store.py) answers as the SQL store does: the same records stored in both, the
same reads asked of both, on SQLite and PostgreSQL. This is what lets service tests trust the fake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector.domain.alerts import Alert
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget
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
    ("acme-us", AllocationRecord("openai", date(2026, 10, day), category, "5010", Decimal(amount), "USD"))
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
            uow.session.add(AllocationRow(fact_id=1, entity=entity, provider_account="org-1",
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


def held_journal(key: str, day: int) -> Journal:
    lines = (
        JournalLine(LedgerTarget("5010"), Decimal("10.00")),
        JournalLine(LedgerTarget("2150"), Decimal("-10.00")),
    )
    return Journal(key, "acme-us", JournalKind.TRUE_UP, date(2026, 10, day), "USD", lines)


def test_journals_are_held_traced_to_their_run_and_approved_alike(stores):
    sql, fake = stores
    planned = [  # (key, day, the run that planned it, why it is held)
        ("TB-AC-261031-001", 31, "b", "beyond the tolerance"),
        ("TB-AC-261015-001", 15, "b", "period locked"),
        ("TB-AC-261020-001", 20, "c", "approve mode"),
        ("TB-AC-261001-001", 1, "b", ""),  # not held
    ]
    with sql.unit_of_work() as uow:
        ids = {
            key: uow.outbox.add(
                held_journal(key, day), ledger="quickbooks", run_id=run, now=T0, hold_reason=why
            )
            for key, day, run, why in planned
        }
        uow.commit()
    with sql.unit_of_work() as uow:  # the fake holds the same journals (read back: ids, statuses, reasons)
        fake.uow.outbox.stored += [uow.outbox.by_key("acme-us", key) for key, *_ in planned]
    fake.uow.outbox.planned.update({ids[key]: run for key, _, run, _ in planned})
    answers = []
    for store in (sql, fake):
        with store.unit_of_work() as uow:
            before = (
                uow.outbox.held_by_run("acme-us", "b"),
                uow.outbox.planned_by(ids["TB-AC-261020-001"]),
                uow.outbox.by_key("acme-us", "TB-AC-261099-001"),
            )
            uow.outbox.approve(ids["TB-AC-261015-001"], "ana")
            uow.commit()
        with store.unit_of_work() as uow:
            after = (
                uow.outbox.held_by_run("acme-us", "b"),
                [(s.journal.key, s.status) for s in uow.outbox.list("acme-us")],
            )
        answers.append((before, after))
    assert answers[0] == answers[1]
    (held_by_b, planned_by, missing), (still_held, statuses) = answers[0]
    assert [s.journal.key for s in held_by_b] == ["TB-AC-261015-001", "TB-AC-261031-001"]  # by date
    assert (planned_by, missing) == ("c", None)
    assert [s.journal.key for s in still_held] == ["TB-AC-261031-001"]
    assert ("TB-AC-261015-001", "planned") in statuses


def test_runs_are_started_finished_and_abandoned_alike(stores):
    sql, fake = stores
    answers = []
    for store in (sql, fake):
        with store.unit_of_work() as uow:
            for hour, run_id in ((5, "e"), (6, "f")):
                uow.runs.start(run_id, "sync", entity="acme-us", params={"n": 1}, actor="cron",
                               code_version="1", owner="host-1:42:1:ab", now=T0 + timedelta(hours=hour))  # fmt: skip
            uow.runs.finish("e", "succeeded", reason=None, stats={"facts": 2}, now=T0 + timedelta(hours=7))
            uow.commit()
        with store.unit_of_work() as uow:
            abandoned = uow.runs.abandon_running("acme-us", now=T0 + timedelta(hours=8), reason="died")
            uow.commit()
        with store.unit_of_work() as uow:
            answers.append((abandoned, uow.runs.latest(2), uow.console.run("e")))
    assert answers[0] == answers[1]
    abandoned, latest, summary = answers[0]
    assert [(r.id, r.status, r.reason) for r in abandoned] == [("f", "abandoned", "died")]
    assert {r.id: r.status for r in latest} == {"e": "succeeded", "f": "abandoned"}
    assert (summary.status, summary.actor) == ("succeeded", "cron")
