"""Runs: every sync, close or reconcile is a run, recorded with its inputs, outcome and reason.

`RunRecorder` writes the run row and the append-only events, each in its own short transaction so that
a failure later in the run never erases what was recorded. `exclusive` holds an entity's lock for a run
and marks runs that a killed process left `running` as abandoned. `Reporter` is how a use case shows progress
to a person (rich bars in the CLI) without knowing about terminals.

Whatever stops a run, it is recorded: a use case finishes its run itself for the errors it expects, and
`fail_unfinished` — called by the CLI's top level and by the scheduler for an exception nobody expected —
records every run the thread started and did not finish as failed, with a plain reason and the hint to
report it (the trace goes to the debug log, never to the run log or the terminal).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from connector import __version__
from connector.domain.errors import REPORT_HINT, BusyError, unexpected_reason
from connector.leases import lease_owner
from connector.logs import end_run, start_run
from connector.store.port import Store


class Reporter(Protocol):
    def progress(self, label: str, done: int, total: int | None = None) -> None: ...

    def note(self, message: str, level: str = "info") -> None: ...


class SilentReporter:
    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []

    def progress(self, label: str, done: int, total: int | None = None) -> None:
        pass

    def note(self, message: str, level: str = "info") -> None:
        self.notes.append((level, message))


Clock = Callable[[], datetime]


class RunContext(Protocol):
    """What every use case that records a run takes from the composition root: the store, the clock and
    who acts. Read-only (properties), as `bootstrap.App` offers them; each use case's context adds the
    rest it needs."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def actor(self) -> str: ...


log = logging.getLogger("tokenbooks.run")
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_started = threading.local()  # the runs this thread started and has not finished, oldest first


def _unfinished() -> list[RunRecorder]:
    if not hasattr(_started, "runs"):
        _started.runs = []
    return _started.runs


@dataclass
class RunOutcome:
    run_id: str
    status: str
    reason: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


# how a run's end is logged: a failure as an error; a partial run (journals left unposted, days refused,
# a posting the ledger stopped part way) as a warning, so a log watcher sees it too
_LEVEL_OF = {"failed": ("error", logging.ERROR), "partial": ("warning", logging.WARNING)}


class RunRecorder:
    """Starts, logs and finishes one run."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        actor: str,
        kind: str,
        entity: str | None,
        params: dict[str, Any],
    ) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor
        self.run_id = str(uuid.uuid4())
        self.kind = kind
        self.entity = entity
        self.finished = False
        start_run(self.run_id, entity)  # every log line from here on names this run
        log.info("%s started", kind, extra={"event": "run.started"})
        with store.unit_of_work() as uow:
            uow.runs.start(
                self.run_id,
                kind,
                entity=entity,
                params=params,
                actor=actor,
                code_version=__version__,
                owner=lease_owner(),  # whoever started it: health asks whether this process still lives
                now=clock(),
            )
            uow.events.append(
                "run.started",
                f"{kind} started",
                run_id=self.run_id,
                actor=actor,
                data={"params": params, "entity": entity, "code_version": __version__},
                now=clock(),
            )
            uow.commit()
        _unfinished().append(self)

    def event(self, kind: str, message: str, *, level: str = "info", data: dict | None = None) -> None:
        log.log(LOG_LEVELS.get(level, logging.INFO), message, extra={"event": kind})
        with self.store.unit_of_work() as uow:
            uow.events.append(
                kind, message, run_id=self.run_id, actor=self.actor, level=level, data=data, now=self.clock()
            )
            uow.commit()

    def finish(self, status: str, *, reason: str | None = None, stats: dict | None = None) -> RunOutcome:
        stats = stats or {}
        if self in _unfinished():
            _unfinished().remove(self)
        with self.store.unit_of_work() as uow:
            uow.runs.finish(self.run_id, status, reason=reason, stats=stats, now=self.clock())
            uow.events.append(
                "run.finished",
                f"{self.kind} {status}" + (f": {reason}" if reason else ""),
                run_id=self.run_id,
                actor=self.actor,
                level=_LEVEL_OF.get(status, ("info", logging.INFO))[0],
                data={"status": status, "reason": reason, "stats": stats},
                now=self.clock(),
            )
            uow.commit()
        self.finished = True
        log.log(
            _LEVEL_OF.get(status, ("info", logging.INFO))[1],
            "%s %s%s",
            self.kind,
            status,
            f": {reason}" if reason else "",
            extra={"event": "run.finished"},
        )
        end_run()
        return RunOutcome(self.run_id, status, reason, stats)

    @contextmanager
    def failed_on_error(self) -> Iterator[RunRecorder]:
        """The run, recorded `failed` with the reason if anything raises before it finished (never left
        `running`); the exception goes on to the caller."""
        try:
            yield self
        except BaseException as exc:
            if not self.finished:
                self.finish("failed", reason=str(exc) or type(exc).__name__)
            raise


def reach_back(
    recorder: RunRecorder, first_day: date, earliest: date | None, kind: str, says: str, **data: object
) -> date:
    """The day a plan starts on: `earliest` when a change (a mapping version, a policy version, changed facts
    or lots) asks for a day before `first_day` — recorded as the run's event `kind`, `says` with {day}
    filled in, its `data` and the day — else `first_day`. One place for every reason a plan reaches back."""
    if earliest is None or earliest >= first_day:
        return first_day
    recorder.event(kind, says.format(day=earliest), data={**data, "from_day": earliest})
    return earliest


def fail_unfinished(error: BaseException) -> list[str]:
    """Record every run this thread started and did not finish as failed, because of `error` — an
    exception no use case expected. The reason is plain words and the hint to report it; the trace is
    logged at debug level. Returns the ids of the runs so recorded (the innermost first)."""
    log.debug("a run stopped on an unexpected error", exc_info=error)
    runs = list(reversed(_unfinished()))
    _unfinished().clear()
    recorded = []
    for run in runs:
        try:
            run.finish("failed", reason=f"{unexpected_reason(error)}; {REPORT_HINT}")
            recorded.append(run.run_id)
        except Exception:  # the store itself may be what failed: the next run marks it abandoned
            log.debug("run %s could not be recorded as failed", run.run_id, exc_info=True)
    return recorded


# ---------------------------------------------------------------------------------------- one at a time


@contextmanager
def exclusive(store: Store, clock: Clock, *, entity: str, kind: str, actor: str) -> Iterator[None]:
    """Run `kind` for `entity` holding the entity's lock (BusyError if another process holds it).

    Taking the lock proves no other process is working on the entity, so any of its runs still marked
    `running` belong to a process that died: they are marked abandoned (their journals left `posting`
    are looked up in the ledger before anything is created again, so nothing is duplicated).
    """
    with ExitStack() as stack:
        try:
            fresh = stack.enter_context(store.entity_lock(entity))
        except BusyError as exc:
            _record_skip(store, clock, entity=entity, kind=kind, actor=actor, reason=exc.message)
            raise
        if fresh:
            abandon_orphans(store, clock, entity=entity, actor=actor)
        yield


def abandon_orphans(store: Store, clock: Clock, *, entity: str, actor: str) -> list[str]:
    now = clock()
    with store.unit_of_work() as uow:
        orphans = uow.runs.abandon_running(entity, now=now, reason=ABANDONED_REASON)
        for run in orphans:
            uow.events.append(
                "run.abandoned",
                f"{run.kind} run {run.id} of {entity} (started {run.started_at:%Y-%m-%d %H:%M} UTC) was "
                "abandoned: its process stopped before it finished; this run takes up its work",
                run_id=run.id,
                actor=actor,
                level="warning",
                data={"entity": entity, "kind": run.kind, "started_at": run.started_at},
                now=now,
            )
        uow.commit()
    return [run.id for run in orphans]


ABANDONED_REASON = (
    "the process running it stopped (killed, crashed or shut down) before it finished; the next run of "
    "the entity took up its work, looking up in the ledger every journal it may have posted"
)


def _record_skip(store: Store, clock: Clock, *, entity: str, kind: str, actor: str, reason: str) -> None:
    with store.unit_of_work() as uow:
        uow.events.append(
            "run.skipped",
            f"{kind} of {entity} not started: {reason}",
            actor=actor,
            data={"entity": entity, "kind": kind, "reason": reason},
            now=clock(),
        )
        uow.commit()
