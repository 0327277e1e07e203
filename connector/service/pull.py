"""Pull: read each source's window and store its facts, usage, raw pages and bookmark in one transaction.

A window that does not parse is refused whole: nothing of it is stored, the bookmark stays, and the
source's error is recorded so `tokenbooks sources status` and the run report can say what went wrong.
When each error names the days it spoils (`Problem.days`: a warehouse row charged on those days), only
those days are refused: they keep what an earlier pull stored, the rest of the window is stored, the
bookmark stands before the first refused day (so every run reads them again until they are corrected),
and the run ends `partial`, naming the rows, the days and the fix. One bad row in the open billing month
would otherwise refuse every night of it, and with it the month's other days.
Because a window is stored atomically, a pull interrupted part-way (a crash, a lost connection on page 7)
stores nothing, and the next run reads the same window again from its first page: an interrupted and
resumed pull ends with exactly the facts of an uninterrupted one.

Warnings (usage the price catalog cannot price, an endpoint an older account lacks) do not refuse the
window; they are recorded as events of the run.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from connector.domain.errors import ConfigError, InputError, Problem, TokenbooksError, refused_days
from connector.metrics import PULL_SECONDS
from connector.redaction import redact
from connector.service.imports import import_inbox
from connector.service.runs import Clock, Reporter, RunContext, RunRecorder, SilentReporter
from connector.sources.base import ConfiguredSources, RefusedSource, Source, Window, bookmark_id
from connector.store.port import Store
from connector.store.records import ReplaceResult
from connector.tracing import span


@dataclass
class SourcePull:
    source: str
    window: Window
    replaced: ReplaceResult = field(default_factory=ReplaceResult)
    pages: int = 0
    facts: int = 0
    received: int = 0
    quarantined: int = 0
    usage: ReplaceResult = field(default_factory=ReplaceResult)
    warnings: list[str] = field(default_factory=list)
    stats: list[dict[str, Any]] = field(default_factory=list)  # what each warehouse query cost
    refused: list[Problem] = field(default_factory=list)  # errors that refused days, each naming its days

    @property
    def refused_days(self) -> frozenset[date]:
        """The days of the window left as an earlier pull stored them: their rows failed a check."""
        return refused_days(self.refused) or frozenset()

    def refusal(self) -> str | None:
        """What was refused, for the run's reason and the source's status: the days, then the problems."""
        days = sorted(self.refused_days)
        if not days:
            return None
        shown = ", ".join(map(str, days[:10])) + (f" and {len(days) - 10} more" if len(days) > 10 else "")
        problems = "; ".join(p.describe() for p in self.refused[:5])
        more = f" (and {len(self.refused) - 5} more problems)" if len(self.refused) > 5 else ""
        return (
            f"{self.source}: {len(days)} day(s) refused, left as an earlier pull stored them ({shown}): "
            f"{problems}{more}. Fix: {self.refused[0].fix}"
        )


def window_for(
    source: Source,
    store: Store,
    *,
    since: date | None,
    until: date,
    default_start: date,
    start_date: date | None = None,
) -> Window:
    """The days to pull, to `until`:

    - from `since` when one is given: the first day the user asked for (`--since`), as asked;
    - else, with no bookmark yet, from the source's first day — its own START_DATE (a warehouse
      section's), else its provider's (`default_start`: TOKENBOOKS_<PROVIDER>__START_DATE, else the
      month being booked) — and nothing before it: days before a first day may sit in a month closed or
      booked by hand, and there is nothing of the source's to read again yet;
    - else from the day after the bookmark, less the lag days read again every run (providers restate
      recent days).

    A source that declares a restatement start (a cloud's open billing period) reads from there when
    that is earlier. Neither the lag nor a restatement reaches before the source's first day: the
    configured one (its own, else `start_date`, its provider's), else the first day of its history (what
    its first pull read from)."""
    source_id = bookmark_id(source.name, source.provider_account)
    with store.unit_of_work() as uow:
        mark, history = uow.bookmarks.get(source_id), uow.bookmarks.first_day(source_id)
    first_day = source.start_date or start_date or history
    if since is not None:
        asked, lag = since, 0
    elif mark is None:  # a first pull: the day it starts on bounds its restatement too
        first_day = source.start_date or default_start
        asked, lag = first_day, 0
    else:
        asked, lag = date.fromisoformat(mark) + timedelta(days=1), source.lag_days
    asked = min(asked, until)
    floor = min(first_day, asked) if first_day else None
    window = Window(asked, until).with_lag(lag, floor=floor)
    # a warehouse source re-reads the open billing period(s), which its cloud restates until the bill
    # is final; re-read days that did not change store nothing (facts compare per day)
    restated = source.restated_from(until)
    if restated and floor:
        restated = max(restated, floor)
    return Window(restated, until) if restated and restated < window.first_day else window


def pull_source(
    source: Source,
    window: Window,
    *,
    store: Store,
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
    stage = store.open_pull_stage(
        source=source.name,
        provider_account=source.provider_account,
        run_id=recorder.run_id,
        now=clock(),
    )
    if stage.discarded_before:
        recorder.event(
            "pull.resumed",
            f"{source.name}: discarded the staged pages of {stage.discarded_before} interrupted pull(s) of "
            f"{source.provider_account}; reading the window again from its first page",
            level="warning",
            data={"source": source.name, "account": source.provider_account},
        )
    try:
        with (
            PULL_SECONDS.labels(source.name).time(),
            span("tokenbooks.pull", run_id=recorder.run_id, source=source.name, first_day=window.first_day),
        ):
            pulled = _stage_window(source, window, stage, recorder.run_id, clock, reporter)
            replaced, usage = stage.promote(
                window,
                bookmark_id(source.name, source.provider_account),
                run_id=recorder.run_id,
                now=clock(),
                refused=pulled.refused_days,
                error=pulled.refusal() or "",
                entity=source.entity,
            )
    except BaseException as exc:
        # best effort: a stage that cannot be discarded now (the store went away) is discarded by the
        # next pull of the source, before it stages anything; the original error is the one to report
        with suppress(Exception):
            stage.discard()
        if isinstance(exc, TokenbooksError):
            _record_source_error(store, source, str(exc), clock)
        raise
    pulled.replaced, pulled.usage = replaced, usage
    for warning in pulled.warnings:
        recorder.event("pull.warning", warning, level="warning", data={"source": source.name})
    refusal = pulled.refusal()
    if refusal:  # (the event's log line is what a person running the command reads on stderr)
        recorder.event(
            "pull.refused_days",
            refusal,
            level="error",
            data={
                "source": source.name,
                "account": source.provider_account,
                "days": sorted(pulled.refused_days),
                "problems": [str(p) for p in pulled.refused[:100]],
                "problem_count": len(pulled.refused),
            },
        )
    for stats in pulled.stats:
        scanned = stats.get("bytes_scanned")
        recorder.event(
            "pull.query",
            f"{source.name}: {stats.get('query', 'query')} on {stats.get('engine', '')}"
            + (f" scanned {scanned:,} bytes" if isinstance(scanned, int) else ""),
            data=stats,
        )
    recorder.event(
        "pull.finished",
        f"{source.name}: {pulled.facts} facts ({replaced.inserted} new, {replaced.restated} restated, "
        f"{replaced.withdrawn} withdrawn) from {pulled.pages} page(s)",
        data={
            "source": source.name,
            "inserted": replaced.inserted,
            "restated": replaced.restated,
            "unchanged": replaced.unchanged,
            "withdrawn": replaced.withdrawn,
            "pages": pulled.pages,
            # where the source's bookmark stands now: before the first refused day, if any
            "bookmark": window.stored_through(pulled.refused_days),
            "refused_days": sorted(pulled.refused_days),
            "usage_buckets": stage.usage,
        },
    )
    return pulled


def _stage_window(
    source: Source, window: Window, stage: Any, run_id: str, clock: Clock, reporter: Reporter
) -> SourcePull:
    """Read the window piece by piece as it arrives, staging each piece: memory holds one page, never
    the window. The first error that names no day refuses the window (the caller discards the stage);
    errors that name their days are gathered (`SourcePull.refused`: promotion leaves those days)."""
    pulled = SourcePull(source.name, window)
    progress = lambda done, label: reporter.progress(label, done)  # noqa: E731
    for chunk in source.stream(window, progress):
        pulled.received += chunk.received
        pulled.stats += chunk.stats  # a refused window's queries cost all the same: kept for the event
        pulled.refused += chunk.errors
        if refused_days(pulled.refused) is None:
            # the problems' own fixes are listed with them (`problems`); the message states each once, so
            # a reader sees one "Fix:" per problem and one for the run
            message = f"{source.name} window {window.first_day}..{window.last_day} refused: " + "; ".join(
                p.describe() for p in pulled.refused[:5]
            )
            raise InputError(
                message,
                problems=pulled.refused,
                fix="nothing from this window was stored; the next run reads it again",
            )
        pulled.warnings += [str(p) for p in chunk.problems if not p.is_error]
        stage.add(chunk.pages, chunk.facts, chunk.usage, run_id=run_id, now=clock())
        pulled.pages += len(chunk.pages)
        pulled.facts += len(chunk.facts)
    return pulled


def _record_source_error(store: Store, source: Source, message: str, clock: Clock) -> None:
    with store.unit_of_work() as uow:
        uow.bookmarks.record_error(bookmark_id(source.name, source.provider_account), message, clock())
        uow.commit()


# ------------------------------------------------------------------------------- tokenbooks pull, status


class PullContext(RunContext, Protocol):
    def sources(self, entity: str) -> list[Source]: ...

    def configured_sources(self, entity: str) -> ConfiguredSources: ...

    def default_start(self, provider: str, until: date) -> date: ...

    def start_date(self, provider: str) -> date | None: ...


@dataclass
class PullRun:
    """`tokenbooks pull`: every source pulled on its own; one refused source does not stop the others."""

    run_id: str
    entity: str
    status: str = "running"  # succeeded | partial (a source failed, rows quarantined) | failed (all failed)
    reason: str | None = None
    pulls: list[SourcePull] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    inbox: Any = None  # InboxReport of the invoices folder, when one was read


def last_complete_day(ctx: Any) -> date:
    """Yesterday in UTC: the last day every provider has closed."""
    return ctx.clock().date() - timedelta(days=1)


def pull_sources(
    ctx: PullContext,
    *,
    entity: str,
    providers: set[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    invoices_dir: Path | None = None,
    reporter: Reporter | None = None,
) -> PullRun:
    """Pull (only: no planning, no posting) every source of the entity, then the invoice inbox."""
    reporter = reporter or SilentReporter()
    until = until or last_complete_day(ctx)
    params = {"entity": entity, "providers": sorted(providers or []), "since": str(since) if since else None}
    recorder = RunRecorder(ctx.store, ctx.clock, actor=ctx.actor, kind="pull", entity=entity, params=params)
    run = PullRun(recorder.run_id, entity)
    configured = ctx.configured_sources(entity)
    chosen = [s for s in configured.sources if providers is None or s.provider in providers]
    # a section whose settings are wrong is this pull's failure, as a source that failed is: the other
    # sources are pulled (a nightly sync, which posts, stops on it: `App.sources`)
    refused = configured.refused if providers is None else []
    for section in refused:
        name = ", ".join(section.source_ids) or section.variables
        run.failures.append((name, str(section.error)))
        reporter.note(f"{name}: {section.error}", "error")
    for source in chosen:
        window = window_for(
            source,
            ctx.store,
            since=since,
            until=until,
            default_start=ctx.default_start(source.provider, until),
            start_date=ctx.start_date(source.provider),
        )
        try:
            run.pulls.append(
                pull_source(
                    source, window, store=ctx.store, recorder=recorder, clock=ctx.clock, reporter=reporter
                )
            )
        except TokenbooksError as exc:
            run.failures.append((source.name, str(exc)))
            reporter.note(f"{source.name}: {exc}", "error")
    if invoices_dir is not None and (providers is None or "invoices" in providers):
        run.inbox = import_inbox(ctx, invoices_dir, entity=entity)
    quarantined = bool(run.inbox and (run.inbox.failed or any(r.quarantined for r in run.inbox.imported)))
    refusals = [why for why in (p.refusal() for p in run.pulls) if why]
    if run.failures and len(run.failures) == len(chosen) + len(refused):
        run.status = "failed"
    elif run.failures or refusals or quarantined:
        run.status = "partial"
    else:
        run.status = "succeeded"
    run.reason = "; ".join([*(f"{name}: {why}" for name, why in run.failures), *refusals]) or (
        "invoice inbox: some files or rows were refused" if quarantined else None
    )
    recorder.finish(
        run.status,
        reason=run.reason,
        stats={"facts": sum(p.facts for p in run.pulls), "failed_sources": [n for n, _ in run.failures]},
    )
    return run


@dataclass(frozen=True)
class SourceStatus:
    source: str
    bookmark: str | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    configured: bool
    refused_days: tuple[date, ...] = ()  # left as stored by its last pull: their rows failed a check
    first_day: date | None = None  # the first day of its history: no pull reads before it
    # the last day its pulls read: past the bookmark when its last pull refused days (they are read again
    # from the bookmark on, the later days were stored); None: never read
    read_through: date | None = None
    misconfigured: Misconfigured | None = None  # its settings section could not be built: it is not pulled
    entities: tuple[str, ...] = ()  # whose facts its pulls or imports stored (empty: not known)
    provider: str | None = None  # a configured source's provider (what `pull --provider` selects it by)


@dataclass(frozen=True, slots=True)
class Misconfigured:
    """Why a configured source's settings section was refused (redacted), and what to do."""

    section: str  # the prefix of its variables: `TOKENBOOKS_WAREHOUSE__GCP__`
    error: str
    fix: str

    def __str__(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"settings {self.section}… refused: {self.error}.{fix}"

    @staticmethod
    def of(refused: RefusedSource) -> Misconfigured:
        error: ConfigError = refused.error
        said = "; ".join([error.message, *(str(p) for p in error.problems[:5])])
        return Misconfigured(refused.variables, redact(said).rstrip("."), redact(error.fix))


def sources_status(
    store: Store, sources: list[Source], refused: list[RefusedSource] | None = None
) -> list[SourceStatus]:
    """Every configured source and every bookmark the store holds (FOCUS imports included); a configured
    section whose settings were `refused` (`App.configured_sources`) is listed with why."""
    with store.unit_of_work() as uow:
        marks = {row.source_id: row for row in uow.bookmarks.all()}
    why = {source_id: Misconfigured.of(r) for r in refused or [] for source_id in r.source_ids}
    providers = {bookmark_id(s.name, s.provider_account): s.provider for s in sources}
    wanted = [*providers, *why]
    statuses = []
    for source_id in [*wanted, *sorted(set(marks) - set(wanted))]:
        mark = marks.get(source_id)
        statuses.append(
            SourceStatus(
                source_id,
                (mark.value or None) if mark else None,
                mark.last_success_at if mark else None,
                mark.last_error if mark else None,
                mark.last_error_at if mark else None,
                source_id in wanted,
                mark.refused_days if mark else (),
                mark.first_day if mark else None,
                mark.read_through if mark else None,
                why.get(source_id),
                mark.entities if mark else (),
                providers.get(source_id),
            )
        )
    return statuses


def entity_sources_status(ctx: PullContext, entity: str) -> list[SourceStatus]:
    """`sources_status` of the entity's sources as configured (`App.configured_sources`): a settings section
    that cannot be built is listed with why, the other sources as usual (what lists sources reads this).

    Bookmarks are kept per source and account, not per entity: a bookmark no source of this entity reads
    (a FOCUS import) is left out when it stored only other entities' facts, so one company's view never
    lists another company's source. Each bookmark names the entities it stored for: no fact is read here
    (this is on every console page that shows sources)."""
    configured = ctx.configured_sources(entity)
    statuses = sources_status(ctx.store, configured.sources, configured.refused)
    return [s for s in statuses if s.configured or s.misconfigured or not s.entities or entity in s.entities]
