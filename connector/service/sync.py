"""Sync: the nightly run — pull every source, plan the entity's deltas, post them, record it all.

The run is recorded whatever happens. A failure before planning (a source refused, the mapping broken,
the ledger unreachable for its lock date) posts nothing; a failure while posting leaves the remaining
journals in the outbox for the next run, and when some journals reached the ledger before it the run is
`partial`, its statistics and reason counting them. `dry_run` pulls and plans but writes neither the outbox nor the
ledger, and shows what would be posted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from connector.domain.accounting_policy import PolicySet, PostingMode
from connector.domain.errors import ConfigError, Interrupted, ReconnectNeeded, TokenbooksError
from connector.domain.mapping import MappingSet
from connector.domain.mapping_history import MappingHistory
from connector.domain.money import format_money
from connector.domain.planner import LedgerCalendar, LockedBehaviour
from connector.ledgers.port import Ledger
from connector.service.books import book_options, report_books
from connector.service.mappings import load_history, require_chart
from connector.service.plan import PlanReport, plan_entity
from connector.service.policies import (
    mark_policies_applied,
    policy_inputs,
    policy_reach_back,
    prepare_policies,
)
from connector.service.post import PostReport, post_pending
from connector.service.pull import SourcePull, last_complete_day, pull_source, window_for
from connector.service.runs import Reporter, RunContext, RunRecorder, SilentReporter, exclusive, reach_back
from connector.sources.base import Source
from connector.store.records import FactMark
from connector.tracing import span


class SyncContext(RunContext, Protocol):
    """What a sync needs from the composition root."""

    def mapping(self) -> tuple[MappingSet, str]: ...

    def sources(self, entity: str) -> list[Source]: ...

    def ledger(self, entity: str) -> Ledger: ...

    def default_start(self, provider: str, until: date) -> date: ...

    def start_date(self, provider: str) -> date | None: ...

    def locked_behaviour(self, entity: str) -> LockedBehaviour: ...

    def stop_requested(self) -> bool: ...

    def policies(self) -> tuple[PolicySet, str]: ...

    def default_posting_mode(self) -> str: ...


# A dry run is logged as a run of its own kind: it pulls and plans but books nothing, so it must not stand
# for the night's sync (the service's last success, the catch-up of a missed night, a failed sync's health).
DRY_RUN = "dry-run"


@dataclass
class SyncResult:
    run_id: str
    entity: str
    status: str
    reason: str | None = None
    pulls: list[SourcePull] = field(default_factory=list)
    plan: PlanReport | None = None
    post: PostReport | None = None
    dry_run: bool = False
    lock_date: date | None = None  # the ledger's, as the plan read it (the months after it are open)
    configuration: bool = False  # failed for a configuration error (settings, mapping, policies)
    error: TokenbooksError | None = field(
        default=None, repr=False
    )  # what failed it: its message and fix apart

    @property
    def posted_count(self) -> int:
        return self.post.reached if self.post else 0


def sync(
    ctx: SyncContext,
    *,
    entity: str,
    since: date | None = None,
    until: date | None = None,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    full_plan: bool = False,
) -> SyncResult:
    """The nightly run. `full_plan` classifies every day of the planned months again instead of only the
    days whose inputs changed (the same journals: the check of incremental planning)."""
    with exclusive(ctx.store, ctx.clock, entity=entity, kind="sync", actor=ctx.actor):
        return _sync(
            ctx,
            entity=entity,
            since=since,
            until=until,
            dry_run=dry_run,
            reporter=reporter,
            full_plan=full_plan,
        )


def _sync(
    ctx: SyncContext,
    *,
    entity: str,
    since: date | None,
    until: date | None,
    dry_run: bool,
    reporter: Reporter | None,
    full_plan: bool,
) -> SyncResult:
    reporter = reporter or SilentReporter()
    until = until or last_complete_day(ctx)
    params = {"entity": entity, "since": since, "until": until, "dry_run": dry_run, "full_plan": full_plan}
    recorder = RunRecorder(
        ctx.store,
        ctx.clock,
        actor=ctx.actor,
        kind=DRY_RUN if dry_run else "sync",
        entity=entity,
        params={k: str(v) if v is not None else None for k, v in params.items()},
    )
    result = SyncResult(recorder.run_id, entity, "running", dry_run=dry_run)
    try:
        with span("tokenbooks.sync", run_id=recorder.run_id, entity=entity, dry_run=dry_run):
            _run(ctx, result, recorder, reporter, since=since, until=until, full_plan=full_plan)
    except Interrupted as exc:
        result.status, result.reason = "abandoned", str(exc)
        recorder.finish("abandoned", reason=str(exc), stats=_stats(result))
        return result
    except TokenbooksError as exc:
        if isinstance(exc, ReconnectNeeded):
            _alert_reconnect(recorder, entity, exc)
        # journals that reached the ledger before the error are booked: the run did part of its work
        result.status = "partial" if result.posted_count else "failed"
        result.reason, result.error = _stopped_reason(result, exc), exc
        result.configuration = isinstance(exc, ConfigError)
        recorder.finish(result.status, reason=result.reason, stats=_stats(result))
        return result
    # a pull that refused days (their rows failed a check), or a plan that refused days (their facts differ
    # from what the audit chain committed), booked the rest: the run did part of its work
    refusals = [why for why in (p.refusal() for p in result.pulls) if why]
    if result.plan is not None and result.plan.refusal():
        refusals.append(result.plan.refusal() or "")
    posted_all = result.post is None or result.post.ok
    result.status = "succeeded" if posted_all and not refusals else "partial"
    problems = [_post_problems(result.post)] if result.post and not result.post.ok else []
    result.reason = "; ".join([*refusals, *problems]) or None
    recorder.finish(result.status, reason=result.reason, stats=_stats(result))
    return result


def _run(
    ctx: SyncContext,
    result: SyncResult,
    recorder: RunRecorder,
    reporter: Reporter,
    *,
    since: date | None,
    until: date,
    full_plan: bool = False,
) -> None:
    mapping, text = ctx.mapping()
    _record_inputs(ctx, result.entity, mapping, recorder)
    _require_something_to_book(ctx, result.entity)
    history = load_history(ctx.store, mapping, text)  # refuses a version number used before
    policies = prepare_policies(ctx, recorder)  # the same for the accounting policies
    ledger = ctx.ledger(result.entity)
    require_chart(ctx.store, mapping, result.entity, ledger, ctx.clock())
    with ctx.store.unit_of_work() as uow:
        reworded = any(row.version == mapping.version for row in uow.mappings.all())
        if uow.mappings.record(mapping, text, run_id=recorder.run_id, now=ctx.clock()):
            what = "file reworded, same rules" if reworded else f"first seen: {mapping.change_note}"
            uow.events.append(
                "mapping.version",
                f"mapping version {mapping.version} {what}",
                run_id=recorder.run_id,
                actor=ctx.actor,
                data={
                    "version": mapping.version,
                    "effective_from": mapping.effective_from,
                    "hash": mapping.content_hash,
                    "source": mapping.source,
                },
            )
        uow.commit()
    first_day = until
    for source in ctx.sources(result.entity):
        _stop_if_asked(ctx, "before pulling " + source.name)
        window = window_for(
            source,
            ctx.store,
            since=since,
            until=until,
            default_start=ctx.default_start(source.provider, until),
            start_date=ctx.start_date(source.provider),
        )
        pull = pull_source(
            source, window, store=ctx.store, recorder=recorder, clock=ctx.clock, reporter=reporter
        )
        result.pulls.append(pull)
        first_day = min(first_day, window.first_day, *pull.replaced.changed_days)
    if since is not None:
        first_day = min(first_day, since)
    first_day = _mapping_reach_back(ctx, result.entity, history, first_day, recorder)
    first_day = policy_reach_back(ctx.store, first_day, recorder)
    first_day, facts_mark = _facts_reach_back(ctx.store, result.entity, first_day, recorder)
    with ctx.store.unit_of_work() as uow:
        rejected = uow.outbox.earliest_rejected_period(result.entity)
    if rejected is not None:
        first_day = min(first_day, rejected)  # a refused journal is planned again until it posts
    calendar = LedgerCalendar(ledger.lock_date(), ctx.locked_behaviour(result.entity))
    result.lock_date = calendar.lock_date
    options = book_options(
        policies,
        entity=result.entity,
        mapping=mapping,
        ledger=ledger,
        now=ctx.clock(),
        default_mode=ctx.default_posting_mode(),
    )
    result.plan = plan_entity(
        ctx.store,
        mapping=mapping,
        entity=result.entity,
        calendar=calendar,
        first_day=first_day,
        last_day=until,
        run_id=recorder.run_id,
        clock=ctx.clock,
        dry_run=result.dry_run,
        history=history,
        books=options,
        full=full_plan,
    )
    _report_plan(result.plan, recorder)
    _report_refused(result.plan, recorder)
    report_books(result.plan.books, result.plan.planned, recorder)
    if result.dry_run:
        return
    mark_policies_applied(ctx.store, ctx.clock)
    with ctx.store.unit_of_work() as uow:
        if facts_mark is not None:
            uow.fact_marks.planned(result.entity, facts_mark)
        uow.commit()
    _stop_if_asked(ctx, "before posting")
    recorder.event("post.started", f"posting the pending journals of {result.entity}")
    result.post = post_pending(
        ctx.store,
        ledger,
        entity=result.entity,
        recorder=recorder,
        clock=ctx.clock,
        reporter=reporter,
        draft=options.posting_mode is PostingMode.DRAFT and options.drafts,
        should_stop=ctx.stop_requested,
    )
    recorder.event(
        "post.finished",
        f"posted {len(result.post.posted)}, found {len(result.post.found)}, rejected "
        f"{len(result.post.rejected)}, to retry {len(result.post.failed)}",
        data={
            "ledger": ledger.name,
            "ledger_calls": {"read": ledger.stats.read_calls, "write": ledger.stats.write_calls},
        },
    )
    if result.post.stopped_by is not None:  # recorded above: the run's statistics count what was posted
        raise result.post.stopped_by
    if result.post.interrupted:
        raise Interrupted(
            f"stopped by a shutdown request after posting {len(result.post.posted)} journal(s)",
            fix="nothing to do: the next run posts the rest",
        )


def _require_something_to_book(ctx: SyncContext, entity: str) -> None:
    """A sync with no provider source and nothing imported would "succeed" having done nothing: that is
    a configuration mistake (a key left out of .env, the wrong entity), said as one."""
    if ctx.sources(entity):
        return
    with ctx.store.unit_of_work() as uow:
        imported = bool(
            uow.facts.accounts(entity)
            or uow.credit_lots.accounts(entity)
            or uow.customer_credits.for_entity(entity)
        )
    if not imported:
        raise ConfigError(
            f"no provider source is configured for entity {entity} and nothing was imported for it: "
            "there is nothing to sync",
            fix="set TOKENBOOKS_OPENAI__ADMIN_KEY or TOKENBOOKS_ANTHROPIC__ADMIN_KEY in .env (and its "
            "ENTITY if the mapping has several), or import a FOCUS export with `tokenbooks import focus FILE`",
        )


def _stop_if_asked(ctx: SyncContext, where: str) -> None:
    if ctx.stop_requested():
        raise Interrupted(f"stopped by a shutdown request {where}", fix="nothing to do: the next run goes on")


def _record_inputs(ctx: SyncContext, entity: str, mapping: MappingSet, recorder: RunRecorder) -> None:
    """What the run starts from, for the auditor: mapping and policy versions, sources and bookmarks."""
    policy = policy_inputs(ctx, entity)
    with ctx.store.unit_of_work() as uow:
        bookmarks = {b.source_id: b.value for b in uow.bookmarks.all()}
        before = uow.events.last_data("run.inputs", entity=entity)
    changes = _policy_changes(before.get("policy") or {}, policy) if before is not None else []
    if changes:
        recorder.event(
            "policy.changed",
            f"accounting policy of {entity} changed: {'; '.join(changes)}",
            level="warning",
            data={"entity": entity, "before": before.get("policy") if before else None, "after": policy},
        )
    recorder.event(
        "run.inputs",
        f"mapping version {mapping.version} ({mapping.content_hash[:12]}), "
        f"{len(ctx.sources(entity))} source(s)",
        data={
            "mapping": {"version": mapping.version, "hash": mapping.content_hash, "source": mapping.source},
            "entity": entity,
            "policy": policy,
            "sources": [s.name for s in ctx.sources(entity)],
            "bookmarks": bookmarks,
        },
    )


def _policy_changes(before: dict, after: dict) -> list[str]:
    """What changed between the policies two runs applied, one "name: before → after" each. Where the file
    was read from is not a policy: the same file moved (to /etc, to a ConfigMap mount) changes nothing."""
    return [
        f"{name}: {before.get(name)} → {after.get(name)}"
        for name in dict.fromkeys([*before, *after])
        if name != "source" and before.get(name) != after.get(name)
    ]


def _mapping_reach_back(
    ctx: SyncContext, entity: str, history: MappingHistory, first_day: date, recorder: RunRecorder
) -> date:
    """Plan from the first day whose stored classification another mapping version now decides.

    A version whose effective date reaches into periods already planned (or posted) changes how their
    spend is classified; planning those periods again turns the change into reclass journals — dated
    in the first open period when the books are closed there — and never edits what was posted.
    """
    with ctx.store.unit_of_work() as uow:
        stale = uow.allocations.earliest_stale_day(entity, history.spans(entity))
    current = history.current
    return reach_back(
        recorder,
        first_day,
        stale,
        "mapping.reclass",
        f"mapping version {current.version} (effective {current.effective_from}) changes how spend from "
        "{day} on is classified; planning from {day} so the change is booked as reclass journals",
        version=current.version,
        effective_from=current.effective_from,
    )


def _facts_reach_back(
    store, entity: str, first_day: date, recorder: RunRecorder
) -> tuple[date, FactMark | None]:
    """Plan from the earliest day an import, a pull or a credit lot changed since the last plan (its mark):
    a FOCUS export delivered late, a pull with --since, or a lot entered after its month was posted (its
    draws, and the usage they paid for) may change a month the nightly window no longer reaches; planning
    it again books the delta (in the first open period when that month is closed). Returns the day and the
    mark, which the sync clears once its plan is stored."""
    with store.unit_of_work() as uow:
        mark = uow.fact_marks.plan_from(entity)
    if mark is None:
        return first_day, None
    day = reach_back(
        recorder,
        first_day,
        mark.plan_from,
        "facts.reach_back",
        "facts or credit lots of {day} on were stored, restated, withdrawn, recorded or voided since the last "
        f"plan ({_changers(mark)}): planning from {{day}}",
    )
    return day, mark


def _changers(mark: FactMark) -> str:
    """What left the mark, in words: each credit lot by name; an import or a pull (their ids say nothing)."""
    lots = [by for by in mark.by if by.startswith("lot ")]
    return ", ".join([*(["an import or a pull"] if len(lots) < len(mark.by) else []), *lots])


def _alert_reconnect(recorder: RunRecorder, entity: str, exc: ReconnectNeeded) -> None:
    """One alert per run: the ledger connection is gone and only a person can bring it back."""
    recorder.event(
        "alert.reconnect_needed",
        f"reconnect needed: the ledger connection of entity {entity} no longer works and tokenbooks will not "
        f"retry it: {exc.message}. {exc.fix}",
        level="error",
        data={"entity": entity, "reason": exc.message, "fix": exc.fix},
    )


def _report_plan(plan: PlanReport, recorder: RunRecorder) -> None:
    recorder.event(
        "plan.finished",
        (
            f"nothing changed since the last plan of {plan.first_day}..{plan.last_day} (same facts, mapping, "
            "policy, lock date and outbox): nothing to plan"
            if plan.skipped
            else f"planned {len(plan.planned)} journal(s) for {plan.first_day}..{plan.last_day} from "
            f"{plan.facts} facts ({plan.days_read} day(s) classified, {plan.days_updated} brought up to date "
            f"with their changed facts, {plan.days_kept} unchanged; {plan.facts_classified} facts classified)"
        ),
        data={
            "journals": [p.journal.key for p in plan.planned],
            "facts": plan.facts,
            "days_read": plan.days_read,
            "days_updated": plan.days_updated,
            "days_kept": plan.days_kept,
            "facts_classified": plan.facts_classified,
            "allocated": plan.allocated,
            "suspense": plan.suspense_rows(),
            "coverage": [c.as_dict() for c in plan.coverage],
        },
    )
    for (provider, currency), amount in sorted(plan.suspense.items()):
        if amount:
            shares = [
                c for c in plan.coverage if (c.provider, c.currency) == (provider, currency) and c.suspense
            ]
            accuracy = ", ".join(
                f"{c.period}: {c.accuracy:.2%} mapped" for c in shares if c.accuracy is not None
            )
            unmapped = [u for u in plan.unmapped if (u.provider, u.currency) == (provider, currency)]
            patterns = "; ".join(u.describe() for u in unmapped)
            # a skipped plan (nothing changed) knows the suspense it left, not its coverage or patterns
            said = (
                f" ({accuracy})" if accuracy else " (unchanged since the last plan)" if plan.skipped else ""
            )
            largest = f"; largest unmapped: {patterns}" if patterns else ""
            recorder.event(
                "alert.suspense",
                # in the currency's minor unit, as the ledger holds it (the exact sum is in the data)
                f"{format_money(amount, currency)} of {provider} spend matched no mapping rule and went to suspense"
                f"{said}{largest}. "
                "Add a rule for it (`tokenbooks mappings coverage` lists it, "
                "`tokenbooks mappings preview` shows the effect)",
                level="warning",
                data={
                    "provider": provider,
                    "currency": currency,
                    "amount": amount,
                    "coverage": [c.as_dict() for c in shares],
                    "unmapped": [
                        {"dimensions": dict(u.dimensions), "amount": u.amount, "facts": u.facts}
                        for u in unmapped
                    ],
                },
            )


def _report_refused(plan: PlanReport, recorder: RunRecorder) -> None:
    """The provider days the plan refused to book from (their facts differ from their commitment), as an
    error event: its log line is what a person running the command reads on stderr, as a pull's refused
    days are."""
    refusal = plan.refusal()
    if refusal is None:
        return
    recorder.event(
        "plan.refused_days",
        refusal,
        level="error",
        data={
            "entity": plan.entity,
            "days": [
                {
                    "source": r.source,
                    "account": r.account,
                    "day": r.day,
                    "posting_day": r.posting_day,
                    "why": r.why,
                }
                for r in plan.refused[:100]
            ],
            "count": len(plan.refused),
        },
    )


def _stopped_reason(result: SyncResult, exc: TokenbooksError) -> str:
    """Why the run stopped; when the ledger stopped it part way, how many journals reached it first (the
    accountant reading the run must know that part of the night is in the ledger, and what waits)."""
    post = result.post
    if post is None or not post.reached:
        return str(exc)
    waiting = post.pending - post.reached - len(post.rejected)
    return (
        f"posting stopped after {post.reached} of {post.pending} journal(s) reached the ledger (the other "
        f"{waiting} wait in the outbox: the next run posts them once this is fixed): {exc}"
    )


def _post_problems(post: PostReport) -> str:
    parts = [f"{key} rejected: {message}" for key, message in post.rejected[:5]]
    parts += [f"{key} not posted yet: {message}" for key, message in post.failed[:5]]
    return "; ".join(parts)


def _stats(result: SyncResult) -> dict:
    stats: dict = {
        "facts_pulled": sum(p.facts for p in result.pulls),
        "restated": sum(p.replaced.restated for p in result.pulls),
    }
    if result.plan:
        stats |= {
            "lock_date": result.lock_date.isoformat() if result.lock_date else None,
            "planned": len(result.plan.planned),
            "suspense": result.plan.suspense_rows(),
            "coverage": [
                {k: (None if v is None else str(v)) for k, v in c.as_dict().items()}
                for c in result.plan.coverage
            ],
        }
    if result.post:
        stats |= {
            "posted": len(result.post.posted),
            "found": len(result.post.found),
            "rejected": len(result.post.rejected),
            "failed": len(result.post.failed),
        }
    return stats
