"""`tokenbooks serve`: the unattended service — nightly syncs, the month-end job, and the web console
with /healthz and /metrics (`connector/web/`).

APScheduler (3.x) fires, per entity of the mapping and in that entity's timezone:

- `nightly:<entity>` at `TOKENBOOKS_SCHEDULE__NIGHTLY_AT` — the sync (`service.sync.sync`);
- `month-end:<entity>` on `…__MONTH_END_DAY` of each month at `…__MONTH_END_AT` — the closed month's
  close (`service.close.close_month`).

Every job coalesces missed runs into one, runs if it is late by less than the misfire grace, and never
runs twice at once (`max_instances=1`); across processes the entity lock keeps runs apart. At start, a
nightly sync missed, abandoned or left part way (`partial`) while the service was down runs at once
(catch-up). SIGTERM/SIGINT
stop new jobs, ask the run in flight to stop at its next safe point (between posting batches), wait
for it, and exit; a run killed outright is marked abandoned by the next start, and its journals left
`posting` are looked up in the ledger before anything is created again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger

from connector.domain.errors import REPORT_HINT, BusyError, TokenbooksError, unexpected_reason
from connector.domain.periods import Period
from connector.leases import JOB_LEASE, lease_owner
from connector.service.after_run import after_run
from connector.service.close import close_month
from connector.service.runs import fail_unfinished
from connector.service.sync import sync
from connector.shutdown import stop_on_signals
from connector.store.port import Claims

log = logging.getLogger("tokenbooks.serve")

NIGHTLY, MONTH_END = "nightly", "month-end"
# The one run status that finishes a job's occurrence. A `partial` run left journals in the outbox (the
# ledger stopped mid-post): its claim is finished as failed and the catch-up at start runs the night
# again, so the rest is posted as soon as the service is back, not a night later.
DONE = "succeeded"
Runner = Callable[..., None]  # (app, job kind, entity[, occurrence])


@dataclass(frozen=True)
class JobSpec:
    kind: str  # nightly | month-end
    entity: str
    timezone: str
    trigger: LocalTimeTrigger

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.entity}"


class LocalTimeTrigger(BaseTrigger):
    """Once a day (or once a month, on `day`) at a wall-clock time in a time zone, whatever the clocks do.

    APScheduler's CronTrigger fires twice at a time in the hour repeated when the clocks go back, and
    for some times loops forever there (seen with APScheduler 3.11: `get_next_fire_time` keeps answering
    the same instant). This one gives each local day one fire: at the first of two ambiguous instants,
    and for a time the clocks skip in spring, at the instant the wall clock would have shown it (02:30
    EST = 03:30 EDT).
    """

    def __init__(self, hour: int, minute: int, zone: ZoneInfo, *, day: int | None = None) -> None:
        self.hour, self.minute, self.zone, self.day = hour, minute, zone, day

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = now
        if previous_fire_time is not None:  # as CronTrigger: strictly after the previous fire
            after = min(now, previous_fire_time + timedelta(microseconds=1))
            if after <= previous_fire_time:
                after = previous_fire_time + timedelta(microseconds=1)
        local_day = after.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(32 * 13):  # a monthly day that exists comes within a year
            candidate = local_day + timedelta(days=offset)
            if self.day is not None and candidate.day != self.day:
                continue
            fire = self.fire_on(candidate)
            if fire >= after:
                return fire
        return None

    def fire_on(self, local_day: date) -> datetime:
        """The instant of this trigger's wall-clock time on `local_day` (fold 0: the first, or the instant
        before the gap's offset applies)."""
        wall = datetime.combine(local_day, dt_time(self.hour, self.minute), tzinfo=self.zone)
        return wall.astimezone(UTC)

    def __str__(self) -> str:
        when = f"day {self.day} " if self.day else "daily "
        return f"{when}at {self.hour:02d}:{self.minute:02d} {self.zone.key}"

    def __repr__(self) -> str:
        return f"<LocalTimeTrigger ({self})>"


def job_specs(app: Any) -> list[JobSpec]:
    """The jobs the mapping's entities need, each on a trigger in the entity's own timezone."""
    schedule = app.settings.schedule
    nightly_hour, nightly_minute = _clock_time(schedule.nightly_at)
    close_hour, close_minute = _clock_time(schedule.month_end_at)
    specs = []
    for entity in app.mapping()[0].entities:
        zone = ZoneInfo(entity.timezone)
        specs.append(
            JobSpec(
                NIGHTLY,
                entity.id,
                entity.timezone,
                LocalTimeTrigger(nightly_hour, nightly_minute, zone),
            )
        )
        specs.append(
            JobSpec(
                MONTH_END,
                entity.id,
                entity.timezone,
                LocalTimeTrigger(close_hour, close_minute, zone, day=schedule.month_end_day),
            )
        )
    return specs


def _clock_time(text: str) -> tuple[int, int]:
    hour, minute = text.split(":")
    return int(hour), int(minute)


def add_jobs(scheduler: BaseScheduler, app: Any, specs: list[JobSpec], runner: Runner | None = None) -> None:
    grace = int(app.settings.schedule.misfire_grace_minutes) * 60
    for spec in specs:
        scheduler.add_job(
            runner or run_job,
            trigger=spec.trigger,
            args=[app, spec.kind, spec.entity],
            id=spec.id,
            name=f"{spec.kind} {spec.entity} ({spec.timezone})",
            misfire_grace_time=grace,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )


def run_job(app: Any, kind: str, entity: str, occurrence: str | None = None) -> None:
    """One scheduled job. Its outcome is in the run log (and alerts); nothing is raised into the scheduler.

    The job's occurrence (the entity-local date of a nightly, the closed period of a month-end) is claimed
    in the database first: another `serve` on the same database that fires the same occurrence — or this
    one firing it twice, as a cron time does in the repeated hour when the clocks go back — is told who
    has it, and does nothing.
    """
    occurrence = occurrence or job_occurrence(app, kind, entity)
    job, owner = f"{kind}:{entity}", lease_owner()
    claims = app.store.job_claims()
    try:
        holder = claims.claim(job, occurrence, owner)
    except TokenbooksError as exc:
        log.error("%s %s for %s not started: %s", kind, entity, occurrence, exc)
        return
    if holder is not None:
        log.info("%s %s for %s skipped: already claimed by %s", kind, entity, occurrence, holder)
        return
    ok = False
    try:
        with claim_kept_alive(claims, job, occurrence, owner):
            status = nightly(app, entity) if kind == NIGHTLY else month_end(app, entity)
        ok = status == DONE
    except BusyError as exc:
        log.warning("%s %s skipped: %s", kind, entity, exc)
    except TokenbooksError as exc:
        log.error("%s %s failed: %s", kind, entity, exc)
    except Exception as exc:  # a bug: recorded as a failed run, said plainly, traced at debug level
        fail_unfinished(exc)
        log.error("%s %s failed: %s; %s", kind, entity, unexpected_reason(exc), REPORT_HINT)
    finally:
        with suppress(TokenbooksError):  # a database gone now: the claim's lease runs out by itself
            claims.finish(job, occurrence, owner, ok=ok)


@contextmanager
def claim_kept_alive(
    claims: Claims, job: str, occurrence: str, owner: str, lease: timedelta = JOB_LEASE
) -> Iterator[None]:
    """Renew the claim's lease every third of it while the job runs, on a thread of its own: a night
    longer than the lease (a backfill at scale) keeps its claim, and a holder that died stops renewing,
    so its claim is taken over once the lease runs out."""
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.wait(lease.total_seconds() / 3):  # float ok: seconds to wait, not money
            try:
                if not claims.renew(job, occurrence, owner, lease):
                    log.warning("%s for %s: the claim is no longer ours (its lease ran out)", job, occurrence)
                    return
            except TokenbooksError as exc:  # the database away for a moment: try again at the next beat
                log.warning("%s for %s: could not renew the claim: %s", job, occurrence, exc)

    heartbeat = threading.Thread(target=beat, name=f"claim {job} {occurrence}", daemon=True)
    heartbeat.start()
    try:
        yield
    finally:
        stopped.set()
        heartbeat.join()


def job_occurrence(app: Any, kind: str, entity: str, at: datetime | None = None) -> str:
    """Which occurrence of the job a run at `at` (default: now) is: the entity-local day of a nightly,
    the closed period of a month-end."""
    if kind == MONTH_END:
        return str(closed_period(app, entity))
    zone = ZoneInfo(app.mapping()[0].entity(entity).timezone)
    return (at or app.clock()).astimezone(zone).date().isoformat()


def nightly(app: Any, entity: str) -> str:
    result = sync(app, entity=entity, full_plan=app.settings.full_plan)
    after_run(app, entity)
    return result.status


def month_end(app: Any, entity: str) -> str:
    result = close_month(app, entity=entity, period=closed_period(app, entity))
    after_run(app, entity)
    return result.status


def closed_period(app: Any, entity: str) -> Period:
    """The month before today, in the entity's timezone."""
    zone = ZoneInfo(app.mapping()[0].entity(entity).timezone)
    return Period.of(app.clock().astimezone(zone).date()).previous()


# -------------------------------------------------------------------------------------------- catch-up


def missed_nightly(app: Any, spec: JobSpec, now: datetime) -> bool:
    """True when the nightly run due last (within the misfire grace) has no run since that finished the
    night: none, or only runs that failed, were abandoned, or posted part of their journals (`partial`)."""
    grace = timedelta(minutes=app.settings.schedule.misfire_grace_minutes)
    due = last_fire_time(spec.trigger, now, grace)
    if due is None:
        return False
    with app.store.unit_of_work() as uow:
        runs = [r for r in uow.runs.latest(50, kind="sync") if r.entity == spec.entity]
    return not any(r.started_at >= due and r.status == DONE for r in runs)


def last_fire_time(trigger: BaseTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The trigger's latest fire time in (now − within, now]."""
    moment, last = now - within, None
    while True:
        fire = trigger.get_next_fire_time(last, moment)
        if fire is None or fire > now:
            return last
        last, moment = fire, fire + timedelta(microseconds=1)


def catch_up(
    scheduler: BaseScheduler, app: Any, specs: list[JobSpec], runner: Runner | None = None
) -> list[str]:
    """Queue, to run now, each nightly sync that was missed, abandoned or left part way (`partial`) while
    the service was down."""
    if not app.settings.schedule.catch_up:
        return []
    now = app.clock()
    queued = []
    for spec in specs:
        if spec.kind == NIGHTLY and missed_nightly(app, spec, now):
            due = last_fire_time(
                spec.trigger, now, timedelta(minutes=app.settings.schedule.misfire_grace_minutes)
            )
            scheduler.add_job(
                runner or run_job,
                args=[
                    app,
                    spec.kind,
                    spec.entity,
                    *([job_occurrence(app, spec.kind, spec.entity, due)] if due else []),
                ],
                id=f"catch-up:{spec.entity}",
                name=f"catch-up {spec.entity}",
                replace_existing=True,
                misfire_grace_time=None,
            )
            queued.append(spec.entity)
    return queued


def next_runs(scheduler: BaseScheduler) -> dict[str, datetime]:
    """The next scheduled run of each entity, whatever the job."""
    found: dict[str, datetime] = {}
    for job in scheduler.get_jobs():
        entity = job.id.split(":", 1)[1]
        when = getattr(job, "next_run_time", None)
        if when is not None and (entity not in found or when < found[entity]):
            found[entity] = when.astimezone(UTC)
    return found


# ---------------------------------------------------------------------------------------------- serve


def serve(app: Any, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT; then finish or safely stop the run in flight, and return."""
    from connector.web.server import ConsoleServer  # here: `tokenbooks --help` loads no server (uvicorn)

    stop = threading.Event()
    stop_on_signals(app.stopping, then=stop.set)
    scheduler = BackgroundScheduler(timezone=UTC)
    specs = job_specs(app)
    add_jobs(scheduler, app, specs)
    web = ConsoleServer(app, lambda: next_runs(scheduler)).start()
    scheduler.start()
    queued = catch_up(scheduler, app, specs)
    if on_ready:
        on_ready(web.url + (f" (catching up: {', '.join(queued)})" if queued else ""))
    stop.wait()
    scheduler.shutdown(wait=True)
    web.stop()
