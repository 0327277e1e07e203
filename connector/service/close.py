"""Month-end close: book what a period still needs, post it, and give the controller the checklist.

`tokenbooks close --period YYYY-MM`, and the service's month-end job (`scheduler.py`), run `close_month`:
a run of its own (kind `close`, recorded with its outcome, holding the entity's lock throughout). It syncs
the period whole — providers restate recent days — and so plans and posts whatever the policies still
owe it: the month's accrual and its reversal, invoice true-ups, expiries, amortization, revenue and
breakage. Then it reconciles the period and prints the checklist (`domain/close.py`): accrued and not
yet invoiced, prepaid lots, deferred revenue, suspense, held journals, reconciliation, and the days a
provider account's cost never came for (`domain/missing_days.py`: read from the facts stored once the
sync re-read the month; those the policies confirm had no spend listed apart). A period that has not ended
is refused: nothing that belongs to a month is booked before the month is over.

A source of the entity whose settings are refused (`App.configured_sources`) stops the close before it
syncs, as it stops every sync: nothing is pulled, booked, posted or reconciled — an accrual or a
reconciliation without that source's spend would be short and look complete. The run is recorded failed
(a configuration error) with the section and its fix, and the checklist of what the store holds lists
the source as a blocker beside the others.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from connector.domain.accounting_policy import EntityPolicy
from connector.domain.close import (
    Checklist,
    DeferredLine,
    HeldJournal,
    MisconfiguredSource,
    PrepaidLine,
    RefusedDays,
    accrual_lines,
    booked_later,
    lot_lines,
    suspense_of,
)
from connector.domain.desired import BooksInput, lot_positions
from connector.domain.errors import InputError, TokenbooksError
from connector.domain.missing_days import MissingDay, confirmed_days, first_day_read, missing_days
from connector.domain.periods import Period
from connector.domain.reconcile import ReconInput
from connector.domain.revenue import grant_states, position_on, sold_net
from connector.service.books import (
    books_on,
    capitalized_projects,
    local_day,
    role_targets,
)
from connector.service.mappings import mapping_history
from connector.service.policies import load_policy_history
from connector.service.pull import SourceStatus, entity_sources_status
from connector.service.reconcile import reconcile_period, source_accounts
from connector.service.runs import Reporter, RunRecorder, exclusive
from connector.service.sync import SyncResult, sync
from connector.sources.base import bookmark_id
from connector.store.records import PENDING_STATUSES


@dataclass
class CloseResult:
    run_id: str
    entity: str
    period: Period
    status: str
    reason: str | None = None
    sync: SyncResult | None = None
    checklist: Checklist | None = None
    notes: list[str] = field(default_factory=list)
    configuration: bool = False  # failed for a configuration error (a source's settings, the mapping …)


def close_month(ctx, *, entity: str, period: Period, reporter: Reporter | None = None) -> CloseResult:
    """Sync the period whole (booking what the policies still owe it), reconcile it, and check it."""
    with exclusive(ctx.store, ctx.clock, entity=entity, kind="close", actor=ctx.actor):
        return _close(ctx, entity, period, reporter)


def _close(ctx, entity: str, period: Period, reporter: Reporter | None) -> CloseResult:
    mapping, _ = ctx.mapping()
    today = local_day(ctx.clock(), mapping.entity(entity).timezone)
    if today <= period.last_day:
        raise InputError(
            f"{period} has not ended for {entity} (it is {today} there): a month is closed once it is over",
            fix=f"run `tokenbooks close --period {period}` from {period.last_day + timedelta(days=1)} on",
        )
    recorder = RunRecorder(
        ctx.store, ctx.clock, actor=ctx.actor, kind="close", entity=entity, params={"period": str(period)}
    )
    result = CloseResult(recorder.run_id, entity, period, "running")
    try:
        if misconfigured_in(entity_sources_status(ctx, entity)):
            return _refused_settings(ctx, result, recorder)
        result.sync = sync(ctx, entity=entity, since=period.first_day, reporter=reporter)
        recorder.event(
            "close.sync",
            f"synced {period} whole: run {result.sync.run_id} {result.sync.status}",
            data={"sync_run": result.sync.run_id, "status": result.sync.status},
        )
        if result.sync.status == "failed":
            result.configuration = result.sync.configuration
            raise _sync_failed(result.sync, period)
        result.checklist = checklist(ctx, entity=entity, period=period, recorder=recorder)
    except TokenbooksError as exc:
        result.status, result.reason = "failed", str(exc)
        recorder.finish("failed", reason=str(exc))
        return result
    result.status = "succeeded" if result.sync.status == "succeeded" else "partial"
    ready = result.checklist.ready
    recorder.finish(
        result.status,
        reason=result.sync.reason,
        stats={
            "sync_run": result.sync.run_id,
            "ready": ready,
            "held": len(result.checklist.held),
            "reconciliation": [list(r) for r in result.checklist.reconciliation],
        },
    )
    return result


def _sync_failed(synced: SyncResult, period: Period) -> InputError:
    """The close's error when its sync failed: the sync's error and one fix (the sync's, then the close
    again), not the sync's `Fix:` followed by a second one."""
    failed = synced.error
    message = failed.message if failed else synced.reason
    again = f"`tokenbooks close --period {period}` again"
    where = f"the sync's run {synced.run_id} is in `tokenbooks runs`"
    fix = f"{failed.fix}; then {again} ({where})" if failed and failed.fix else f"{where}; then {again}"
    return InputError(f"the sync of {period} failed: {message}", fix=fix)


def _refused_settings(ctx, result: CloseResult, recorder: RunRecorder) -> CloseResult:
    """The close of a period one of whose sources cannot be built: stopped before the sync (see the
    module's docstring), recorded failed with why, and the checklist of what the store holds."""
    period = result.period
    result.checklist = checklist(ctx, entity=result.entity, period=period, recorder=recorder, reconcile=False)
    refused = result.checklist.misconfigured
    names = ", ".join(f"{m.source} ({m.section}…)" for m in refused)
    result.status, result.configuration = "failed", True
    why = "; ".join(m.error for m in refused)
    fixes = "; ".join(dict.fromkeys(m.fix or f"correct the settings {m.section}…" for m in refused))
    result.reason = (
        f"{period} not closed: the settings of {names} are refused ({why}). Nothing was synced, posted or "
        f"reconciled: the month's books would lack that spend. Fix: {fixes}; then `tokenbooks close "
        f"--period {period}` again"
    )
    recorder.event(
        "close.settings_refused",
        f"{period} not closed: the settings of {names} are refused",
        level="error",
        data={"sources": [m.source for m in refused], "sections": sorted({m.section for m in refused})},
    )
    recorder.finish(
        "failed",
        reason=result.reason,
        stats={"ready": False, "misconfigured": [m.source for m in refused]},
    )
    return result


def checklist(
    ctx,
    *,
    entity: str,
    period: Period,
    recorder: RunRecorder,
    reconcile: bool = True,
    statuses: list[SourceStatus] | None = None,
) -> Checklist:
    """The close checklist of `period` from what the store and the ledger hold now; `statuses`: the
    entity's sources as the caller already read them (`entity_sources_status`), or read here."""
    mapping, _ = ctx.mapping()
    ledger_name = mapping.entity(entity).ledger
    policies_file, text = ctx.policies()
    policies = load_policy_history(ctx.store, policies_file, text)
    end = period.last_day
    with ctx.store.unit_of_work() as uow:
        posted = uow.outbox.posted_by_bucket(entity, last_day=end + timedelta(days=1))
        # accruals, their invoices and lots in the currency they were computed in (the provider's), where
        # the books hold them converted; what sits in suspense as the books hold it
        computed = uow.outbox.posted_by_bucket(entity, last_day=end + timedelta(days=1), as_computed=True)
        # the period's journals and the reversal dated the next day: a journal held for a later month
        # does not keep this one open
        held = uow.outbox.list(entity, statuses=["held"], last_day=end + timedelta(days=1))
        unposted = uow.outbox.list(entity, statuses=PENDING_STATUSES, last_day=end + timedelta(days=1))
        posted_later = uow.outbox.list(entity, statuses=["posted"], first_day=end + timedelta(days=1))
        cost_days = uow.facts.cost_days(entity, first_day_read(period), end)
        inputs = books_on(
            uow,
            entity=entity,
            day=end,
            policies=policies,
            role_target=role_targets(mapping, ledger_name),
            project_of=capitalized_projects(mapping_history(ctx).versions, ledger_name),
        )
    prepaid = {
        (b.provider, b.provider_account)
        for b in computed
        if policies.prepaid(entity, b.provider, b.provider_account, end)
    }
    result = Checklist(period)
    result.accruals = accrual_lines(computed, inputs.invoices, period, prepaid=prepaid)
    result.lots = lot_lines(lot_positions(inputs, end), period)
    result.deferred = _deferred(inputs, end)
    result.suspense = suspense_of(posted, period, mapping.role_target("suspense", ledger_name))
    result.held = [
        HeldJournal(s.journal.key, s.journal.txn_date, s.journal.kind.value, s.hold_reason or "")
        for s in held
    ]
    statuses = entity_sources_status(ctx, entity) if statuses is None else statuses
    result.refused = refused_in(statuses, period)
    result.misconfigured = misconfigured_in(statuses)
    result.missing, result.no_cost_confirmed = missing_in(
        cost_days, period, statuses=statuses, in_force=policies.current.entity(entity)
    )
    result.booked_later = [
        later for later in (booked_later(s.journal, period) for s in posted_later) if later is not None
    ]
    result.unposted = [
        HeldJournal(s.journal.key, s.journal.txn_date, s.journal.kind.value, s.last_error or s.status)
        for s in unposted
    ]
    if reconcile:
        results = reconcile_period(
            ctx.store,
            mapping=mapping,
            entity=entity,
            period=period,
            ledger=ctx.ledger(entity),
            recorder=recorder,
            clock=ctx.clock,
            history=mapping_history(ctx),
            policies=policies,
            source_accounts=source_accounts(ctx, entity),
        )
        result.reconciliation = [
            (r.input.provider, r.input.provider_account, r.status.value) for r in results
        ]
        result.prepaid = [_prepaid_line(r.input) for r in results if r.input.prepaid is not None]
        result.reconciliation_notes = {
            (r.input.provider, r.input.provider_account): "; ".join(f.note for f in r.findings if not f.holds)
            for r in results
        }
    return result


def missing_in(
    cost_days: Mapping[tuple[str, str, str], Collection[date]],
    period: Period,
    *,
    statuses: list[SourceStatus],
    in_force: EntityPolicy,
) -> tuple[list[MissingDay], list[MissingDay]]:
    """The days of `period` an account's cost never came for (`domain/missing_days.py`), split into those
    still missing and those the policies confirm had no spend: what the close checklists and the nightly's
    alert (`service/alerts.py`) both name. `cost_days`: as `FactRepository.cost_days` reads them from
    `first_day_read(period)`; `statuses`: the entity's sources (`entity_sources_status`), which name the
    pull that reads each account again; `in_force`: the entity's policies as they stand now (an
    acknowledgement is added after the month it is for)."""
    # keyed as bookmarks are (`bookmark_id`): a source's name and the account it reads
    nightly = {s.source: s.provider for s in statuses if s.provider is not None}
    by_bookmark = {
        (bookmark_id(source, account), provider, account): days
        for (source, provider, account), days in cost_days.items()
    }
    return confirmed_days(
        missing_days(by_bookmark, period, nightly=nightly),
        lambda provider, account: in_force.account(provider, account).no_cost_days,
    )


def _prepaid_line(data: ReconInput) -> PrepaidLine:
    month = data.prepaid
    assert month is not None
    return PrepaidLine(
        data.provider,
        data.provider_account,
        data.currency,
        month.drawn,
        month.beyond_lots,
        month.bought_total,
        month.remaining,
        month.booked,
    )


def refused_in(statuses: list[SourceStatus], period: Period) -> list[RefusedDays]:
    """The entity's sources' days of `period` that their last pull refused (kept on their bookmarks)."""
    found = []
    # a source whose settings are wrong keeps the days it refused before: still listed, beside its
    # settings (`misconfigured_in`)
    for status in statuses:
        days = [day for day in status.refused_days if period.contains(day)] if status.configured else []
        if days:
            found.append(RefusedDays(status.source, min(days), max(days), len(days), status.last_error or ""))
    return found


def misconfigured_in(statuses: list[SourceStatus]) -> list[MisconfiguredSource]:
    """The entity's sources whose settings section cannot be built (`entity_sources_status`)."""
    return [
        MisconfiguredSource(s.source, s.misconfigured.section, s.misconfigured.error, s.misconfigured.fix)
        for s in statuses
        if s.misconfigured is not None
    ]


def _deferred(inputs: BooksInput, day) -> list[DeferredLine]:
    lines = []
    for state in grant_states(inputs):
        grant = state.grant
        if grant.sold_on > day:
            continue
        pos = position_on(inputs, state, day)
        lines.append(
            DeferredLine(
                grant.customer,
                grant.grant_id,
                grant.product,
                grant.currency,
                sold_net(inputs, grant, day),  # net of refunds: the row adds up
                pos.revenue,
                pos.breakage,
                pos.deferred,
            )
        )
    return lines
