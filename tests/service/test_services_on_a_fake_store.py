"""Service decisions tested on the fake store (tests/fake_store.py): what the health page reports and which
alerts are raised, stored once and sent, from what the store holds — no database, since the database is not
what these tests are about (the same services run on SQLite and PostgreSQL in test_alerts.py,
test_health.py and test_metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

from connector.domain.accounting_policy import BUILT_IN
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget
from connector.service.alerts import find_alerts, raise_alerts
from connector.service.status import service_status
from connector.settings import AlertSettings
from connector.sources.base import ConfiguredSources
from connector.store.records import (
    AllocationRecord,
    ConnectionRecord,
    ReconciliationRecord,
    RunRecord,
    StoredJournal,
)
from tests.fake_store import FakeStore

NOW = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)


def run(id_: str, status: str, hour: int, kind: str = "sync", entity: str = "acme-us") -> RunRecord:
    started = datetime(2026, 11, 1, hour, tzinfo=UTC)
    return RunRecord(id_, kind, entity, "cron", started, started, status, f"reason of {id_}")


def reconciliation(id_: int, period: str, status: str, account: str = "org-1") -> ReconciliationRecord:
    return ReconciliationRecord(
        id_, None, "acme-us", "openai", account, period, "USD", Decimal("100.00"), Decimal("130.00"),
        Decimal("100.00"), Decimal("100.00"), status, [], NOW, None, Decimal("30.00"), Decimal("1.00"),
    )  # fmt: skip


def connection(id_: int, ledger: str, status: str) -> ConnectionRecord:
    return ConnectionRecord(
        id_, ledger, "acme-us", "realm-1", None, status, "refresh token expired" if status != "ok" else None,
        NOW, None, None, None, None, None, None,
    )  # fmt: skip


def held(key: str) -> StoredJournal:
    lines = (
        JournalLine(LedgerTarget("5010"), Decimal("10.00")),
        JournalLine(LedgerTarget("2150"), Decimal("-10.00")),
    )
    journal = Journal(key, "acme-us", JournalKind.TRUE_UP, date(2026, 10, 31), "USD", lines)
    return StoredJournal(1, journal, "held", "quickbooks", None, 1, 0, "beyond the invoice tolerance", None)


@dataclass
class RecordingNotifier:
    """The alert channels, as `Notifier` offers them: accepts every alert on `channels`."""

    channels: list[str] = field(default_factory=lambda: ["webhook"])
    sent: list[str] = field(default_factory=list)

    def send(self, alert) -> tuple[list[str], str | None]:
        self.sent.append(alert.dedup_key)
        return list(self.channels), None


def app_on(store: FakeStore, alerts: AlertSettings | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        store=store,
        clock=lambda: NOW,
        actor="cron",
        settings=SimpleNamespace(alerts=alerts or AlertSettings()),
        # what the missing-day alert reads beside the facts (`service/close.missing_in`)
        configured_sources=lambda entity: ConfiguredSources(),
        policies=lambda: (BUILT_IN, ""),
    )


def test_the_status_names_the_failed_last_run_the_variance_of_the_latest_period_and_the_lost_connection():
    store = FakeStore()
    store.uow.runs.runs += [
        run("r1", "succeeded", 1),
        run("r2", "failed", 3),
        run("r3", "succeeded", 2, "reconcile"),
    ]
    store.uow.reconciliations.stored += [
        reconciliation(1, "2026-09", "drift"),  # an older period: not reported
        reconciliation(2, "2026-10", "variance"),
        reconciliation(3, "2026-10", "matched", account="org-2"),
    ]
    store.uow.connections.stored += [
        connection(1, "quickbooks", "ok"),
        connection(2, "xero", "reconnect_needed"),
    ]

    status = service_status(store, ["acme-us"], now=NOW)

    [entity] = status.entities
    assert entity.last_run.id == "r2"
    assert entity.last_success.id == "r1"
    assert [c.ledger for c in status.reconnect_needed] == ["xero"]
    assert status.problems == [
        "last sync run failed: reason of r2",
        "reconciliation openai/org-1 2026-10: variance",
        "xero connection of acme-us needs a person to reconnect (`tokenbooks connect xero`): refresh token expired",
    ]
    assert store.uow.commits == 0  # a read commits nothing


def test_alerts_are_found_from_runs_connections_reconciliations_suspense_and_held_journals():
    store = FakeStore()
    store.uow.runs.runs.append(run("r2", "partial", 3))
    store.uow.connections.stored.append(connection(2, "xero", "reconnect_needed"))
    store.uow.reconciliations.stored.append(reconciliation(2, "2026-11", "drift"))
    store.uow.allocations.stored += [
        (
            "acme-us",
            AllocationRecord("openai", date(2026, 11, 1), "suspense", "6190", Decimal("12.50"), "USD"),
        ),
        (
            "acme-us",
            AllocationRecord("openai", date(2026, 11, 1), "suspense", "6190", Decimal("0.25"), "USD"),
        ),
        ("acme-us", AllocationRecord("openai", date(2026, 11, 1), "cogs", "5010", Decimal("99.00"), "USD")),
        (
            "acme-us",
            AllocationRecord("openai", date(2026, 10, 31), "suspense", "6190", Decimal("5.00"), "USD"),
        ),  # October
    ]
    store.uow.outbox.stored.append(held("TB-TU-261031-001"))

    found = find_alerts(app_on(store), "acme-us")

    assert [(a.kind, a.subject, a.period, a.severity) for a in found] == [
        ("run_partial", "sync", "2026-11-01", "error"),
        ("reconnect_needed", "xero", "2026-11-02", "error"),
        ("reconciliation_variance", "openai/org-1", "2026-11", "error"),
        ("suspense", "openai", "2026-11", "warning"),
        ("held_for_approval", "TB-TU-261031-001", "2026-10", "warning"),
    ]
    assert "12.75 USD of openai spend in 2026-11 (up to 2026-11-01) matched" in found[3].message


def test_an_alert_is_stored_and_logged_once_sent_once_and_each_step_is_committed():
    store, notifier = FakeStore(), RecordingNotifier()
    store.uow.connections.stored.append(connection(2, "xero", "reconnect_needed"))
    app = app_on(store)

    sent = raise_alerts(app, "acme-us", run_id="run-1", notifier=notifier)

    [stored] = store.uow.alerts.stored
    assert [a.dedup_key for a in sent] == [stored.dedup_key] == notifier.sent
    assert stored.run_id == "run-1"
    assert stored.sent_at == NOW
    assert stored.channels == ["webhook"]
    assert [e["kind"] for e in store.uow.events.appended] == ["alert.reconnect_needed"]
    assert store.uow.commits == 2  # the alert with its event, then its delivery

    assert (
        raise_alerts(app, "acme-us", run_id="run-2", notifier=notifier) == []
    )  # the same subject and period: nothing new
    assert len(store.uow.alerts.stored) == 1
    assert notifier.sent == [stored.dedup_key]
    assert len(store.uow.events.appended) == 1


def test_an_alert_no_channel_accepts_stays_unsent_for_the_next_try():
    store = FakeStore()
    store.uow.connections.stored.append(connection(2, "xero", "reconnect_needed"))
    refusing = RecordingNotifier()
    refusing.send = lambda alert: ([], "webhook answered 500")  # type: ignore[method-assign]

    assert raise_alerts(app_on(store), "acme-us", notifier=refusing) == []

    [stored] = store.uow.alerts.unsent()
    assert stored.last_error == "webhook answered 500"
    assert stored.sent_at is None


BUDGETS = """\
budgets_version: 1
thresholds: [80, 100]
cost_centers:
  Support Assistant: {monthly: "100.00"}
  Engineering: {monthly: "1000.00", thresholds: [50]}
"""


def test_budgets_alert_at_their_soft_thresholds_once_each(tmp_path):
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    store = FakeStore()
    app = app_on(store, alerts=AlertSettings(budgets_file=tmp_path / "budgets.yaml"))
    support = LedgerTarget("5010", class_name="Support Assistant").key()

    def spend(day: int, amount: str) -> None:
        allocation = AllocationRecord("openai", date(2026, 11, day), "cogs", support, Decimal(amount), "USD")
        store.uow.allocations.stored.append(("acme-us", allocation))

    spend(1, "45.00")
    spend(1, "40.00")
    raise_alerts(app, "acme-us")
    [alert] = [a for a in store.uow.alerts.stored if a.kind == "budget"]
    assert alert.subject == "Support Assistant@80%"
    assert "85.00 of its 100.00 budget for 2026-11 (85%" in alert.message

    spend(1, "20.00")
    raise_alerts(app, "acme-us")
    budget = sorted(a.subject for a in store.uow.alerts.stored if a.kind == "budget")
    assert budget == ["Support Assistant@100%", "Support Assistant@80%"]


def test_a_journal_key_two_entities_hold_is_refused_without_an_entity_and_one_held_once_is_found():
    """Each entity's ledger numbers its own journals: a group's QuickBooks and Xero companies both have a
    TB-AC-261001-001. Tracing a key without --entity must never follow the default entity's journal when
    the auditor may be holding the other company's."""
    import pytest

    from connector.domain.errors import InputError
    from connector.service.audit import entity_of_key

    def stored(id_: int, entity: str, key: str) -> StoredJournal:
        journal = held(key).journal
        return StoredJournal(id_, replace(journal, entity=entity), "posted", "xero", "j", 1, 1, "", None)

    store = FakeStore()
    store.uow.outbox.stored = [
        stored(1, "acme-us", "TB-AC-261001-001"),
        stored(2, "acme-uk", "TB-AC-261001-001"),
        stored(3, "acme-uk", "TB-AC-261101-002"),
    ]
    entities = ["acme-us", "acme-uk"]
    with pytest.raises(InputError) as refused:
        entity_of_key(store, "TB-AC-261001-001", entities, "acme-us")
    assert "acme-us, acme-uk" in str(refused.value)
    assert "--entity acme-uk" in refused.value.fix
    assert entity_of_key(store, "TB-AC-261101-002", entities, "acme-us") == "acme-uk"
    assert entity_of_key(store, "TB-XX-000000-000", entities, "acme-us") == "acme-us"
