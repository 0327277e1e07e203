"""Month-end: what the service runs on the configured day of the next month for the month just ended.

For now, a sync of the whole closed month (providers restate recent days; the month is read again
whole) and its reconciliation, both holding the entity's lock. Issue 5's close (reversals, true-ups,
prepaid and breakage, locking the period) extends `close_month`; the scheduler calls only this.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.domain.periods import Period
from connector.domain.reconcile import ReconResult
from connector.service.reconcile import reconcile_run
from connector.service.runs import exclusive
from connector.service.sync import SyncResult, sync


@dataclass
class CloseResult:
    entity: str
    period: Period
    sync: SyncResult
    reconciliation: list[ReconResult]


def close_month(ctx, *, entity: str, period: Period) -> CloseResult:
    """Sync the closed month whole, then reconcile it (one entity, holding its lock throughout)."""
    with exclusive(ctx.engine, ctx.clock, entity=entity, kind="close", actor=ctx.actor):
        synced = sync(ctx, entity=entity, since=period.first_day, until=period.last_day)
        results = reconcile_run(ctx, entity=entity, period=period)
    return CloseResult(entity, period, synced, results)
