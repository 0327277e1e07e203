"""Approvals and `audit verify`'s comparison of the books, decided on the fake store (tests/fake_store.py):
which journals a controller may release, what is recorded, what is refused and why; which differences
between the stored journals and what the audit chain committed are named. The database is not what these
tests are about — the same services run on SQLite and PostgreSQL in test_month_end.py, test_audit.py and
the console's tests, and tests/store/test_fake_store.py keeps the fake answering as the SQL store does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connector.domain.console import AuditEvent
from connector.domain.errors import BusyError, InputError
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget
from connector.service.approvals import approve, approve_journal
from connector.service.audit import verify_books
from connector.service.runs import RunRecorder
from connector.store.records import JournalDigest, JournalRecord, RunRecord, StoredJournal
from tests.fake_store import FakeStore

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PLANNED_AT = datetime(2026, 11, 1, 2, 30, tzinfo=UTC)
ENTITY = "acme-us"


def stored(
    id_: int, key: str, day: int, status: str = "held", reason: str = "beyond the tolerance"
) -> StoredJournal:
    lines = (
        JournalLine(LedgerTarget("5010"), Decimal("10.00")),
        JournalLine(LedgerTarget("2150"), Decimal("-10.00")),
    )
    journal = Journal(key, ENTITY, JournalKind.TRUE_UP, date(2026, 10, day), "USD", lines)
    return StoredJournal(id_, journal, status, "quickbooks", None, 1, 0, reason, None)


def books(*journals: StoredJournal, planner: str = "cron") -> FakeStore:
    """A store whose journals were all planned by the sync run `sync-1`, run by `planner`."""
    store = FakeStore()
    store.uow.runs.runs.append(
        RunRecord("sync-1", "sync", ENTITY, planner, PLANNED_AT, PLANNED_AT, "succeeded", None)
    )
    store.uow.outbox.stored += journals
    store.uow.outbox.planned.update({j.id: "sync-1" for j in journals})
    return store


def approved_events(store: FakeStore) -> list[dict]:
    return [e for e in store.uow.events.appended if e["kind"] == "journal.approved"]


def test_a_held_journal_is_released_under_the_entity_lock_and_the_approval_is_recorded():
    store = books(stored(1, "TB-AC-261031-001", 31))
    locked_during = []
    store.uow.outbox.approve = _spy(store.uow.outbox.approve, lambda: locked_during.append(set(store.locked)))

    reason = approve_journal(store, lambda: NOW, entity=ENTITY, key="TB-AC-261031-001", approver="ana")

    assert reason == "beyond the tolerance"
    assert [s.status for s in store.uow.outbox.stored] == ["planned"]  # waits for the next posting
    assert store.uow.outbox.approved == {1: "ana"}
    assert locked_during == [{ENTITY}]  # no run posts while it is approved
    assert store.locked == set()
    [event] = approved_events(store)
    assert event["actor"] == "ana"
    assert event["data"]["held_because"] == "beyond the tolerance"
    assert event["data"]["run"] is None  # approved by key, not by run
    assert store.uow.commits >= 1


def test_a_run_id_releases_every_journal_that_run_held_in_date_order():
    store = books(
        stored(1, "TB-AC-261031-001", 31),
        stored(2, "TB-AC-261015-001", 15, reason="period locked"),
        stored(3, "TB-AC-261020-001", 20, status="posted"),  # not held: not approved again
    )
    released = approve(store, lambda: NOW, entity=ENTITY, target="sync-1", approver="ana")

    assert released == [("TB-AC-261015-001", "period locked"), ("TB-AC-261031-001", "beyond the tolerance")]
    assert [(s.id, s.status) for s in store.uow.outbox.stored] == [
        (1, "planned"),
        (2, "planned"),
        (3, "posted"),
    ]
    assert [e["data"]["run"] for e in approved_events(store)] == ["sync-1", "sync-1"]


def test_whoever_ran_the_sync_that_planned_it_may_not_approve_it_and_nothing_is_approved():
    store = books(stored(1, "TB-AC-261031-001", 31), stored(2, "TB-AC-261015-001", 15), planner="Ana")

    with pytest.raises(
        InputError, match="ana may not approve TB-AC-261015-001: they ran the sync run sync-1"
    ):
        approve(store, lambda: NOW, entity=ENTITY, target="sync-1", approver="ana")

    assert {s.status for s in store.uow.outbox.stored} == {"held"}
    assert store.uow.outbox.approved == {}
    assert approved_events(store) == []
    # with segregation of duties off (a one-person company), the same approval goes through
    approve(store, lambda: NOW, entity=ENTITY, target="sync-1", approver="ana", separate=False)
    assert {s.status for s in store.uow.outbox.stored} == {"planned"}


def test_whoever_saved_the_mapping_the_sync_used_may_not_approve_its_journals():
    store = books(stored(1, "TB-AC-261031-001", 31))
    store.uow.console_events += [
        AuditEvent(7, PLANNED_AT, "cron", "run.inputs", "info", "inputs", "sync-1", {"mapping": {"hash": "m-2"}}, "h"),
        AuditEvent(3, PLANNED_AT, "bo", "mapping.saved", "info", "saved", None, {"content_hash": "m-2", "version": 2}, "h"),
        AuditEvent(2, PLANNED_AT, "ana", "mapping.saved", "info", "saved", None, {"content_hash": "m-1", "version": 1}, "h"),
    ]  # fmt: skip

    with pytest.raises(InputError, match="bo may not approve TB-AC-261031-001: they saved mapping version 2"):
        approve_journal(store, lambda: NOW, entity=ENTITY, key="TB-AC-261031-001", approver="bo")
    # ana saved a version this sync did not use: she may
    approve_journal(store, lambda: NOW, entity=ENTITY, key="TB-AC-261031-001", approver="ana")
    assert store.uow.outbox.approved == {1: "ana"}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("TB-AC-261020-001", "journal TB-AC-261020-001 is posted, not held: there is nothing to approve"),
        ("TB-AC-261099-001", "no journal 'TB-AC-261099-001' for entity 'acme-us'"),
        ("sync-9", "run 'sync-9' of entity 'acme-us' holds no journal waiting for approval"),
    ],
)
def test_what_cannot_be_approved_is_refused_by_name_and_nothing_changes(target, message):
    store = books(stored(3, "TB-AC-261020-001", 20, status="posted"))
    with pytest.raises(InputError, match=message):
        approve(store, lambda: NOW, entity=ENTITY, target=target, approver="ana")
    assert [s.status for s in store.uow.outbox.stored] == ["posted"]
    assert approved_events(store) == []


def test_taking_the_entity_lock_marks_a_dead_processs_run_abandoned():
    store = books(stored(1, "TB-AC-261031-001", 31))
    store.uow.runs.runs.append(RunRecord("sync-2", "sync", ENTITY, "cron", NOW, None, "running", None))
    store.uow.runs.runs.append(RunRecord("sync-3", "sync", "acme-eu", "cron", NOW, None, "running", None))

    approve_journal(store, lambda: NOW, entity=ENTITY, key="TB-AC-261031-001", approver="ana")

    statuses = {r.id: r.status for r in store.uow.runs.runs}
    assert statuses == {"sync-1": "succeeded", "sync-2": "abandoned", "sync-3": "running"}  # another entity's
    [abandoned] = [e for e in store.uow.events.appended if e["kind"] == "run.abandoned"]
    assert abandoned["run_id"] == "sync-2"


# ------------------------------------------------------------------------------------- audit verify


def record(id_: int, key: str, status: str = "posted", ledger_id: str | None = "QB-1") -> JournalRecord:
    return JournalRecord(
        id_, ENTITY, "quickbooks", key, "usage_accrual", date(2026, 10, 1), None, "USD", "accrued", status,
        ledger_id, 1, 1, "sync-1", NOW, None,
    )  # fmt: skip


DIGEST = JournalDigest("header-1", ("line-1", "line-2"))


def verified(stored_now: dict, committed: dict, posted: dict) -> tuple[int, list[tuple[int | None, str]]]:
    store = FakeStore()
    store.uow.commitments.stored = stored_now
    store.uow.commitments.committed_digests = committed
    store.uow.commitments.posted_ids = posted
    count, problems = verify_books(store)
    return count, [(p.event_id, p.problem) for p in problems]


def test_books_as_committed_verify_clean():
    key = (ENTITY, "TB-AC-261001-001")
    assert verified({key: (record(1, key[1]), DIGEST)}, {key: (10, DIGEST)}, {key: (11, "QB-1")}) == (1, [])


def test_each_difference_from_what_the_chain_committed_is_named():
    a, b, c, d = ((ENTITY, f"TB-AC-2610{n:02d}-001") for n in (1, 2, 3, 4))
    stored_now = {
        a: (record(1, a[1]), replace(DIGEST, header="header-edited")),  # its memo or date changed
        b: (record(2, b[1]), JournalDigest("header-1", ("line-1", "line-2-edited", "line-3"))),
        d: (record(4, d[1], ledger_id="QB-99"), DIGEST),  # its ledger id rewritten
    }
    committed = {k: (n, DIGEST) for n, k in enumerate((a, b, c, d), start=10)}  # c: deleted since
    posted = {a: (18, "QB-1"), b: (19, "QB-1"), d: (20, "QB-4")}
    count, problems = verified(stored_now, committed, posted)

    assert count == 4
    assert problems == [
        (10, "journal-altered"),
        (11, "line-altered"),  # line 2 altered
        (11, "line-altered"),  # line 3 added
        (12, "journal-missing"),
        (20, "posting-altered"),  # named by the posting event that recorded the ledger's id
    ]


def test_a_journal_marked_posted_that_no_posting_event_records_is_named():
    """Counted as booked by the planner, it would never reach the ledger."""
    key = (ENTITY, "TB-AC-261001-001")
    assert verified({key: (record(1, key[1]), DIGEST)}, {key: (10, DIGEST)}, {}) == (
        1,
        [(None, "posting-altered")],
    )


def _spy(method, before):
    def spied(*args, **kwargs):
        before()
        return method(*args, **kwargs)

    return spied


# ------------------------------------------------------------------------------------------ the runs


def test_a_run_that_raises_is_recorded_failed_with_its_reason_and_the_error_goes_on():
    store = FakeStore()
    recorder = RunRecorder(
        store, lambda: NOW, actor="cron", kind="import", entity=ENTITY, params={"file": "x"}
    )
    with pytest.raises(InputError), recorder.failed_on_error():
        raise InputError("x.csv:7: amount 'abc' is not a number", fix="write a decimal amount")

    run = store.uow.runs.get(recorder.run_id)
    assert run is not None
    assert (run.status, run.kind, run.params) == ("failed", "import", {"file": "x"})
    assert run.reason is not None
    assert run.reason.startswith("x.csv:7: amount 'abc' is not a number")
    started, finished = store.uow.events.appended
    assert (started["kind"], finished["kind"], finished["level"]) == ("run.started", "run.finished", "error")
    assert finished["data"]["status"] == "failed"


def test_a_busy_entity_is_recorded_as_a_skip_and_nothing_is_approved():
    store = books(stored(1, "TB-AC-261031-001", 31))
    store.held_elsewhere[ENTITY] = "run sync-7 (sync, started 02:30 UTC by cron)"

    with pytest.raises(BusyError, match="entity acme-us is busy"):
        approve_journal(store, lambda: NOW, entity=ENTITY, key="TB-AC-261031-001", approver="ana")

    [skipped] = store.uow.events.appended
    assert skipped["kind"] == "run.skipped"
    assert skipped["data"]["kind"] == "approve"
    assert "sync-7" in skipped["data"]["reason"]  # who holds it
    assert [s.status for s in store.uow.outbox.stored] == ["held"]
