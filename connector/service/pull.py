"""Pull: read each source's window and store its facts, raw pages and bookmark in one transaction.

A window that does not parse is refused whole: nothing of it is stored, the bookmark stays, and the
source's error is recorded so `tokenbooks sources status` and the run report can say what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from connector.domain.errors import InputError, TokenbooksError
from connector.service.runs import Clock, Reporter, RunRecorder
from connector.sources.base import PullResult, Source, Window
from connector.store.repositories import ReplaceResult, UnitOfWork


@dataclass
class SourcePull:
    source: str
    window: Window
    replaced: ReplaceResult = field(default_factory=ReplaceResult)
    pages: int = 0
    facts: int = 0
    received: int = 0
    quarantined: int = 0


def bookmark_id(source: Source) -> str:
    return f"{source.name}:{source.provider_account}"


def window_for(
    source: Source, engine: Engine, *, since: date | None, until: date, default_start: date
) -> Window:
    """The days to pull: from `since` (or the bookmark), minus the lag re-read every run, to `until`."""
    if since is None:
        with UnitOfWork(engine) as uow:
            mark = uow.bookmarks.get(bookmark_id(source))
        since = date.fromisoformat(mark) + timedelta(days=1) if mark else default_start
    since = min(since, until)
    return Window(since, until).with_lag(source.lag_days)


def pull_source(
    source: Source,
    window: Window,
    *,
    engine: Engine,
    recorder: RunRecorder,
    clock: Clock,
    reporter: Reporter,
) -> SourcePull:
    """Pull one source's window and store it; raises InputError (nothing stored) if the window is bad."""
    recorder.event(
        "pull.started",
        f"pulling {source.name} {window.first_day}..{window.last_day}",
        data={
            "source": source.name,
            "account": source.provider_account,
            "first_day": window.first_day,
            "last_day": window.last_day,
        },
    )
    try:
        result = source.pull(window, progress=lambda done, label: reporter.progress(label, done))
    except TokenbooksError as exc:
        _record_source_error(engine, source, str(exc), clock)
        raise
    if result.errors:
        message = f"{source.name} window {window.first_day}..{window.last_day} refused: " + "; ".join(
            str(p) for p in result.errors[:5]
        )
        _record_source_error(engine, source, message, clock)
        raise InputError(
            message,
            problems=result.errors,
            fix="nothing from this window was stored; the next run reads it again",
        )
    replaced = _store(result, engine, recorder.run_id, clock)
    recorder.event(
        "pull.finished",
        f"{source.name}: {len(result.facts)} facts ({replaced.inserted} new, {replaced.restated} restated, "
        f"{replaced.withdrawn} withdrawn) from {len(result.pages)} page(s)",
        data={
            "source": source.name,
            "inserted": replaced.inserted,
            "restated": replaced.restated,
            "unchanged": replaced.unchanged,
            "withdrawn": replaced.withdrawn,
            "pages": len(result.pages),
            "bookmark": result.window.last_day,  # where the source's bookmark stands now
        },
    )
    return SourcePull(
        source.name,
        window,
        replaced,
        len(result.pages),
        len(result.facts),
        result.received,
        result.quarantined,
    )


def _store(result: PullResult, engine: Engine, run_id: str, clock: Clock) -> ReplaceResult:
    now = clock()
    with UnitOfWork(engine) as uow:
        raw_ids: dict[str, int] = {}
        for page in result.pages:
            payload_id = uow.raw.add(
                source=result.source,
                endpoint=page.endpoint,
                request=page.request,
                body=page.body,
                run_id=run_id,
                now=now,
            )
            raw_ids.update(dict.fromkeys(page.natural_keys, payload_id))
        replaced = uow.facts.replace_window(
            source=result.source,
            provider_account=result.provider_account,
            first_day=result.window.first_day,
            last_day=result.window.last_day,
            facts=result.facts,
            raw_payload_ids=raw_ids,
            run_id=run_id,
            now=now,
        )
        uow.bookmarks.advance(
            f"{result.source}:{result.provider_account}", result.window.last_day.isoformat(), now
        )
        uow.commit()
    return replaced


def _record_source_error(engine: Engine, source: Source, message: str, clock: Clock) -> None:
    with UnitOfWork(engine) as uow:
        uow.bookmarks.record_error(bookmark_id(source), message, clock())
        uow.commit()
