"""Runs: every sync, close or reconcile is a run, recorded with its inputs, outcome and reason.

`RunRecorder` writes the run row and the append-only events, each in its own short transaction so that
a failure later in the run never erases what was recorded. `exclusive` holds an entity's lock for a run
and marks runs that a killed process left `running` as abandoned. `Reporter` is how a use case shows progress
to a person (rich bars in the CLI) without knowing about terminals.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from connector import __version__
from connector.domain.errors import BusyError
from connector.store.locks import entity_lock
from connector.store.repositories import UnitOfWork


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


@dataclass
class RunOutcome:
    run_id: str
    status: str
    reason: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


class RunRecorder:
    """Starts, logs and finishes one run."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        actor: str,
        kind: str,
        entity: str | None,
        params: dict[str, Any],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.actor = actor
        self.run_id = str(uuid.uuid4())
        self.kind = kind
        self.entity = entity
        self.finished = False
        with UnitOfWork(engine) as uow:
            uow.runs.start(
                self.run_id,
                kind,
                entity=entity,
                params=params,
                actor=actor,
                code_version=__version__,
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

    def event(self, kind: str, message: str, *, level: str = "info", data: dict | None = None) -> None:
        with UnitOfWork(self.engine) as uow:
            uow.events.append(
                kind, message, run_id=self.run_id, actor=self.actor, level=level, data=data, now=self.clock()
            )
            uow.commit()

    def finish(self, status: str, *, reason: str | None = None, stats: dict | None = None) -> RunOutcome:
        stats = stats or {}
        with UnitOfWork(self.engine) as uow:
            uow.runs.finish(self.run_id, status, reason=reason, stats=stats, now=self.clock())
            uow.events.append(
                "run.finished",
                f"{self.kind} {status}" + (f": {reason}" if reason else ""),
                run_id=self.run_id,
                actor=self.actor,
                level="error" if status == "failed" else "info",
                data={"status": status, "reason": reason, "stats": stats},
                now=self.clock(),
            )
            uow.commit()
        self.finished = True
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


# ---------------------------------------------------------------------------------------- one at a time


@contextmanager
def exclusive(engine: Engine, clock: Clock, *, entity: str, kind: str, actor: str) -> Iterator[None]:
    """Run `kind` for `entity` holding the entity's lock (BusyError if another process holds it).

    Taking the lock proves no other process is working on the entity, so any of its runs still marked
    `running` belong to a process that died: they are marked abandoned (their journals left `posting`
    are looked up in the ledger before anything is created again, so nothing is duplicated).
    """
    with ExitStack() as stack:
        try:
            fresh = stack.enter_context(entity_lock(engine, entity))
        except BusyError as exc:
            _record_skip(engine, clock, entity=entity, kind=kind, actor=actor, reason=exc.message)
            raise
        if fresh:
            abandon_orphans(engine, clock, entity=entity, actor=actor)
        yield


def abandon_orphans(engine: Engine, clock: Clock, *, entity: str, actor: str) -> list[str]:
    now = clock()
    with UnitOfWork(engine) as uow:
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


def _record_skip(engine: Engine, clock: Clock, *, entity: str, kind: str, actor: str, reason: str) -> None:
    with UnitOfWork(engine) as uow:
        uow.events.append(
            "run.skipped",
            f"{kind} of {entity} not started: {reason}",
            actor=actor,
            data={"entity": entity, "kind": kind, "reason": reason},
            now=clock(),
        )
        uow.commit()
