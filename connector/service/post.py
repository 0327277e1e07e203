"""Post: move journals from the outbox into the ledger, exactly once.

Each attempt is recorded (status `posting`) and committed *before* the ledger is called, so after a
crash or an unclear answer the journal is looked up under its key before it is ever created again.
Before anything is sent, every journal's key is looked up and settled by the shared settle step
(`connector.ledgers.settle`): the same content there → posted; other content there → rejected as a conflict.
Outcomes: created or found → posted; refused for good → rejected (reported, never retried blindly);
no clear answer or retries exhausted → failed, to be looked up and retried on the next run. A journal the
audit chain does not vouch for (added or altered in the store behind the log) is never sent: rejected.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from connector.domain.errors import TokenbooksError
from connector.ledgers.port import Ledger, LedgerJournal, PostOutcome, PostRequest, PostResult
from connector.ledgers.settle import Action, Decision, decide
from connector.service.audit import unvouched
from connector.service.runs import Clock, Reporter, RunRecorder
from connector.store.port import Store, UnitOfWork
from connector.store.records import StoredJournal
from connector.tracing import span

REQUEST_ID_NAMESPACE = uuid.UUID("6f1c1f0e-3d2b-4d7a-9b59-3f0f6f2a9c11")


def request_id_for(entity: str, key: str, generation: int) -> str:
    """The idempotency key sent with a create: the same on every retry of the same posting generation.

    36 characters: within QuickBooks' 50-character requestid and Xero's 128-character Idempotency-Key.
    """
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"{entity}/{key}/{generation}"))


@dataclass
class PostReport:
    posted: list[str] = field(default_factory=list)  # created now
    found: list[str] = field(default_factory=list)  # already in the ledger from an earlier attempt
    rejected: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    held: int = 0
    interrupted: bool = False  # a shutdown was requested: the remaining batches wait for the next run
    pending: int = 0  # the journals it set out to post (those the audit chain does not vouch for included)
    # what stopped the posting part way (a revoked connection, the ledger's configuration): the journals
    # above reached the ledger before it; the caller raises it once it has recorded them
    stopped_by: TokenbooksError | None = field(default=None, repr=False)

    @property
    def reached(self) -> int:
        """The journals now in the ledger: created in this run, or found there from an earlier attempt."""
        return len(self.posted) + len(self.found)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.failed


def post_pending(
    store: Store,
    ledger: Ledger,
    *,
    entity: str,
    recorder: RunRecorder,
    clock: Clock,
    reporter: Reporter,
    batch_size: int | None = None,
    draft: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> PostReport:
    """Post every pending journal of `entity`. An error that stops the ledger (auth, config) ends the
    posting: the report keeps what reached the ledger before it, and the error in `stopped_by`.

    `should_stop` is asked between batches: a shutdown stops at a batch boundary, never mid-batch. A batch
    is as many journals as the ledger sends in one write request (`journals_per_request`), unless given.
    """
    batch_size = batch_size or ledger.journals_per_request
    with store.unit_of_work() as uow:
        pending = uow.outbox.pending(entity)
        report = PostReport(held=len(uow.outbox.list(entity, statuses=["held"])), pending=len(pending))
        refused = unvouched(uow, [p.id for p in pending])
        for stored in pending:
            if stored.id in refused:
                _refuse_unvouched(uow, stored, refused[stored.id], recorder, clock, report)
        uow.commit()
    pending = [p for p in pending if p.id not in refused]
    total = len(pending)
    for start in range(0, total, batch_size):
        if should_stop():
            report.interrupted = True
            break
        batch = pending[start : start + batch_size]
        try:
            to_create = _found_already(store, ledger, batch, recorder, clock, report)
            if to_create:
                with span("tokenbooks.post", run_id=recorder.run_id, entity=entity, journals=len(to_create)):
                    _create(store, ledger, to_create, entity, recorder, clock, report, draft)
        except TokenbooksError as exc:
            report.stopped_by = exc
            break
        reporter.progress("posting journals", min(start + batch_size, total), total)
    return report


def _refuse_unvouched(
    uow: UnitOfWork, stored: StoredJournal, why: str, recorder: RunRecorder, clock: Clock, report: PostReport
) -> None:
    """A journal the audit chain does not vouch for is never sent: rejected, with an error event."""
    message = (
        f"{stored.journal.key} was not posted: {why}; `tokenbooks audit verify` names what changed, and the "
        "next sync plans what the facts still need"
    )
    uow.outbox.set_status(stored.id, "rejected", now=clock(), error=message)
    uow.events.append(
        "posting.refused",
        message,
        run_id=recorder.run_id,
        actor=recorder.actor,
        level="error",
        data={"key": stored.journal.key, "reason": why},
        now=clock(),
    )
    report.rejected.append((stored.journal.key, message))


def _found_already(
    store: Store,
    ledger: Ledger,
    batch: Sequence[StoredJournal],
    recorder: RunRecorder,
    clock: Clock,
    report: PostReport,
) -> list[StoredJournal]:
    """Journals an earlier attempt may have created are looked up first; return the ones still to create.

    An earlier attempt that left less than the ledger's `settle_seconds` ago may still be committing (the
    ledger had not answered it): such a journal is neither looked up nor sent in this run — "not found"
    would not be final yet — and waits for the next run. Every other journal of the batch is looked up
    (one query for the batch where the ledger offers it), not only those attempted before: a store restored
    from a backup has forgotten what it posted after the backup, and the ledger is what remembers it."""
    unsettled = _still_settling(store, ledger, batch, clock)
    for stored in unsettled:
        report.failed.append(
            (
                stored.journal.key,
                f"an earlier attempt may still be committing in {ledger.name} (it left less than "
                f"{ledger.settle_seconds:g} s ago); the next run looks it up before anything is sent again",
            )
        )
    batch = [s for s in batch if s not in unsettled]
    found = ledger.find_many([s.journal.key for s in batch]) if batch else {}
    remaining = []
    for stored in batch:
        decision = _decide(ledger, stored, found)
        if decision.action is Action.SEND:
            remaining.append(stored)
        elif decision.action is Action.POSTED:
            _mark_found(store, stored, decision, recorder, clock, report)
        else:
            _record_conflict(store, stored, decision, recorder, clock, report)
    return remaining


def _decide(ledger: Ledger, stored: StoredJournal, found: dict[str, LedgerJournal]) -> Decision:
    """The shared settle step for one stored journal (translated by the ledger only when something is there)."""
    key = stored.journal.key
    if key not in found:
        return Decision(key, Action.SEND)
    return decide([ledger.held(stored.journal)], found, ledger=ledger.name)[0]


def _mark_found(
    store: Store,
    stored: StoredJournal,
    decision: Decision,
    recorder: RunRecorder,
    clock: Clock,
    report: PostReport,
) -> None:
    with store.unit_of_work() as uow:
        uow.outbox.set_status(stored.id, "posted", now=clock(), ledger_id=decision.ledger_id)
        uow.commit()
    report.found.append(stored.journal.key)
    recorder.event(
        "posting.found",
        f"{stored.journal.key} was already in the ledger (id {decision.ledger_id})",
        data={"key": stored.journal.key, "ledger_id": decision.ledger_id},
    )


def _record_conflict(
    store: Store,
    stored: StoredJournal,
    decision: Decision,
    recorder: RunRecorder,
    clock: Clock,
    report: PostReport,
) -> None:
    """Something else is under the journal's key: refused (reported, never retried blindly, never overwritten)."""
    result = decision.result()
    with store.unit_of_work() as uow:
        uow.outbox.set_status(stored.id, "rejected", now=clock(), error=result.message)
        uow.commit()
    report.rejected.append((stored.journal.key, result.message))
    recorder.event(
        "posting.conflict",
        result.message,
        level="error",
        data={"key": stored.journal.key, "ledger_id": decision.ledger_id},
    )


def _still_settling(
    store: Store, ledger: Ledger, batch: Sequence[StoredJournal], clock: Clock
) -> list[StoredJournal]:
    """The journals of `batch` whose latest attempt left less than `ledger.settle_seconds` ago."""
    attempted = [s for s in batch if s.attempts > 0]
    if not attempted or not ledger.settle_seconds:
        return []
    with store.unit_of_work() as uow:
        started = uow.outbox.last_attempt_started([s.id for s in attempted])
    horizon = clock() - timedelta(seconds=ledger.settle_seconds)
    return [s for s in attempted if s.id in started and started[s.id] > horizon]


def _create(
    store: Store,
    ledger: Ledger,
    batch: Sequence[StoredJournal],
    entity: str,
    recorder: RunRecorder,
    clock: Clock,
    report: PostReport,
    draft: bool,
) -> None:
    requests = [
        PostRequest(
            s.journal, request_id_for(entity, s.journal.key, s.generation), draft, attempt=s.attempts + 1
        )
        for s in batch
    ]
    with store.unit_of_work() as uow:
        attempts = [
            uow.outbox.start_attempt(s.id, run_id=recorder.run_id, request_id=r.request_id, now=clock())
            for s, r in zip(batch, requests, strict=True)
        ]
        uow.commit()
    try:
        results = ledger.post(requests)
    except TokenbooksError as exc:
        failed = [PostResult.from_error(s.journal.key, PostOutcome.FAILED, exc) for s in batch]
        _record(store, batch, attempts, failed, recorder, clock, report)
        raise
    _record(store, batch, attempts, results, recorder, clock, report)


_STATUS_FOR = {
    PostOutcome.CREATED: "posted",
    PostOutcome.FOUND: "posted",
    PostOutcome.REJECTED: "rejected",
    PostOutcome.UNCERTAIN: "failed",
    PostOutcome.FAILED: "failed",
}


def _record(
    store: Store,
    batch: Sequence[StoredJournal],
    attempts: Sequence[int],
    results: Sequence[PostResult],
    recorder: RunRecorder,
    clock: Clock,
    report: PostReport,
) -> None:
    by_key = {r.key: r for r in results}
    with store.unit_of_work() as uow:
        for stored, attempt_id in zip(batch, attempts, strict=True):
            result = by_key.get(stored.journal.key) or PostResult(
                stored.journal.key,
                PostOutcome.UNCERTAIN,
                message="the ledger gave no result for this journal",
            )
            now = clock()
            error = result.message or None
            uow.outbox.finish_attempt(
                attempt_id,
                result.outcome.value,
                now=now,
                ledger_id=result.ledger_id,
                error_class=result.error_class or None,
                error_message=error,
            )
            uow.outbox.set_status(
                stored.id, _STATUS_FOR[result.outcome], now=now, ledger_id=result.ledger_id, error=error
            )
            uow.events.append(
                "posting.attempt",
                f"{stored.journal.key}: {result.outcome.value}" + (f" ({error})" if error else ""),
                run_id=recorder.run_id,
                actor=recorder.actor,
                level="error" if result.outcome is PostOutcome.REJECTED else "info",
                data={
                    "key": stored.journal.key,
                    "outcome": result.outcome.value,
                    "ledger_id": result.ledger_id,
                    "error_class": result.error_class,
                    "txn_date": stored.journal.txn_date,
                },
                now=now,
            )
            _tally(report, result)
        uow.commit()


def _tally(report: PostReport, result: PostResult) -> None:
    if result.outcome is PostOutcome.CREATED:
        report.posted.append(result.key)
    elif result.outcome is PostOutcome.FOUND:
        report.found.append(result.key)
    elif result.outcome is PostOutcome.REJECTED:
        report.rejected.append((result.key, result.message))
    else:
        report.failed.append((result.key, result.message))
