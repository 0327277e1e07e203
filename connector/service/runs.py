"""Runs: every sync, close or reconcile is a run, recorded with its inputs, outcome and reason.

`RunRecorder` writes the run row and the append-only events, each in its own short transaction so that
a failure later in the run never erases what was recorded. `Reporter` is how a use case shows progress
to a person (rich bars in the CLI) without knowing about terminals.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from connector import __version__
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
        return RunOutcome(self.run_id, status, reason, stats)
