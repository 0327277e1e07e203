"""The schedule, on a controllable clock: APScheduler's own job processing, ticked by the test under a
frozen time (freezegun), so jobs fire at the right local times without waiting for them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import BaseScheduler
from freezegun import freeze_time

from connector.scheduler import MONTH_END, NIGHTLY, add_jobs, catch_up, job_specs, run_job
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.support import MINIMAL_MAPPING

TWO_ENTITIES = MINIMAL_MAPPING.replace(
    "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}\n",
    "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}\n"
    "  acme-jp: {ledger: quickbooks, currency: USD, timezone: Asia/Tokyo}\n",
)
IGNORE = ["sqlalchemy", "psycopg", "sqlite3"]  # the database keeps real time; the schedule does not


class ManualScheduler(BaseScheduler):
    """APScheduler's scheduling logic with no thread: `tick()` runs the jobs due at the (frozen) time."""

    def __init__(self) -> None:
        super().__init__(timezone=UTC, executors={"default": DebugExecutor()})

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def tick(self) -> None:
        self._process_jobs()


class Recorder:
    def __init__(self) -> None:
        self.fired: list[tuple[str, str, datetime]] = []

    def __call__(self, app, kind: str, entity: str, occurrence: str | None = None) -> None:
        self.fired.append((kind, entity, datetime.now(UTC)))


def scheduled(world: World, runner=None) -> ManualScheduler:
    scheduler = ManualScheduler()
    add_jobs(scheduler, world.app, job_specs(world.app), runner)
    scheduler.start()
    return scheduler


def test_each_entity_syncs_nightly_at_its_own_local_time(world: World):
    world.mapping_path.write_text(TWO_ENTITIES)
    fired = Recorder()
    with freeze_time("2026-10-05 06:00:00", ignore=IGNORE) as clock:
        scheduler = scheduled(world, fired)
        nights = {job.id: job.next_run_time.astimezone(UTC) for job in scheduler.get_jobs()}
        assert nights["nightly:acme-us"] == datetime(2026, 10, 5, 6, 30, tzinfo=UTC)  # 02:30 EDT
        assert nights["nightly:acme-jp"] == datetime(2026, 10, 5, 17, 30, tzinfo=UTC)  # 02:30 JST
        assert nights["month-end:acme-us"] == datetime(2026, 11, 3, 11, 0, tzinfo=UTC)  # 06:00 EST
        assert nights["month-end:acme-jp"] == datetime(2026, 11, 2, 21, 0, tzinfo=UTC)  # 06:00 JST
        for moment in ("06:29:59", "06:30:00", "17:29:59", "17:30:00"):
            clock.move_to(f"2026-10-05 {moment}")
            scheduler.tick()
        assert fired.fired == [
            (NIGHTLY, "acme-us", datetime(2026, 10, 5, 6, 30, tzinfo=UTC)),
            (NIGHTLY, "acme-jp", datetime(2026, 10, 5, 17, 30, tzinfo=UTC)),
        ]
        clock.move_to("2026-10-31 12:00:00")  # the service was stopped for most of October
        scheduler.tick()
        # acme-us's night of the 31st (06:30 UTC) is 5½ hours late, within the 6-hour grace: the missed
        # nights coalesce into this one run; acme-jp's (17:30 UTC on the 30th) is past the grace: skipped
        assert fired.fired[2:] == [(NIGHTLY, "acme-us", datetime(2026, 10, 31, 12, 0, tzinfo=UTC))]
        job = scheduler.get_job("nightly:acme-us")
        assert job.next_run_time.astimezone(UTC) == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)  # 02:30 EST
        clock.move_to("2026-11-01 07:30:00")
        scheduler.tick()
        scheduler.shutdown()
    assert fired.fired[-1] == (NIGHTLY, "acme-us", datetime(2026, 11, 1, 7, 30, tzinfo=UTC))


def test_a_late_job_runs_once_within_the_grace_and_not_at_all_beyond_it(world: World):
    world.app.settings.schedule.misfire_grace_minutes = 3 * 24 * 60
    fired = Recorder()
    with freeze_time("2026-10-05 06:00:00", ignore=IGNORE) as clock:
        scheduler = scheduled(world, fired)
        clock.move_to("2026-10-07 20:00:00")  # three nights missed (machine asleep): coalesced into one run
        scheduler.tick()
        assert [(k, e) for k, e, _ in fired.fired] == [(NIGHTLY, "acme-us")]
        scheduler.shutdown()
    world.app.settings.schedule.misfire_grace_minutes = 60
    fired.fired.clear()
    with freeze_time("2026-10-05 06:00:00", ignore=IGNORE) as clock:
        scheduler = scheduled(world, fired)
        clock.move_to("2026-10-05 08:00:00")  # 90 minutes late, grace 60: skipped
        scheduler.tick()
        scheduler.shutdown()
    assert fired.fired == []


def test_every_job_coalesces_has_a_grace_and_runs_one_instance_at_a_time(world: World):
    world.app.settings.schedule.misfire_grace_minutes = 90
    with freeze_time("2026-10-05 06:00:00", ignore=IGNORE):
        scheduler = scheduled(world, Recorder())
        jobs = scheduler.get_jobs()
        scheduler.shutdown()
    assert {(j.coalesce, j.max_instances, j.misfire_grace_time) for j in jobs} == {(True, 1, 90 * 60)}


@pytest.mark.parametrize("kind", [NIGHTLY, MONTH_END])
def test_the_scheduled_jobs_run_the_real_sync_and_month_end(world: World, kind: str):
    world.source.set("12.00", date(2026, 10, 30))
    world.source.set("30.00", date(2026, 10, 31))
    at = "2026-11-01 07:30:00" if kind == NIGHTLY else "2026-11-03 11:00:00"
    world.clock.now = datetime.fromisoformat(at).replace(tzinfo=UTC)
    with freeze_time(at, ignore=IGNORE):
        scheduler = scheduled(world)
        scheduler.tick()
        scheduler.shutdown()
    with UnitOfWork(world.app.engine) as uow:
        runs = sorted(
            (r.kind, r.status, r.params.get("since"), r.params.get("period")) for r in uow.runs.latest(10)
        )
    if kind == NIGHTLY:
        assert runs == [("sync", "succeeded", None, None)]
    else:
        assert runs == [
            ("close", "succeeded", None, "2026-10"),  # reconciled within the close (tokenbooks close)
            ("sync", "succeeded", "2026-10-01", None),
        ]
    assert sorted(world.ledger.journals) == ["TB-AC-261030-001", "TB-AC-261031-001"]


def test_a_nightly_run_missed_or_abandoned_while_down_is_caught_up_at_start(world: World):
    world.source.set("12.00", date(2026, 10, 31))
    specs = job_specs(world.app)
    world.clock.now = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # 04:00 EST: tonight's 02:30 run is missing
    scheduler = ManualScheduler()
    queued = catch_up(scheduler, world.app, specs, Recorder())
    assert queued == ["acme-us"]
    sync(world.app, entity="acme-us")  # it ran
    assert catch_up(ManualScheduler(), world.app, specs, Recorder()) == []
    world.clock.now += timedelta(days=2)  # down for two nights, beyond the grace: the next night does it
    world.app.settings.schedule.misfire_grace_minutes = 60
    assert catch_up(ManualScheduler(), world.app, specs, Recorder()) == []


def test_a_job_that_fails_is_recorded_and_does_not_stop_the_scheduler(world: World):
    world.source.broken = "the page has no data array"
    world.clock.now = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    run_job(world.app, NIGHTLY, "acme-us")  # raises nothing
    with UnitOfWork(world.app.engine) as uow:
        [run] = uow.runs.latest(1)
    assert run.status == "failed"


def test_a_bug_in_a_scheduled_job_is_a_failed_run_in_plain_words_with_the_trace_at_debug_level(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def bug(*_args, **_kwargs):
        raise TypeError("amount columns take Decimal, got int")

    monkeypatch.setattr("connector.service.sync._record_inputs", bug)
    world.clock.now = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    with caplog.at_level("DEBUG"):
        run_job(world.app, NIGHTLY, "acme-us")  # raises nothing
    with UnitOfWork(world.app.engine) as uow:
        [run] = uow.runs.latest(1)
    assert run.status == "failed"
    assert run.reason.startswith("internal error (TypeError: amount columns take Decimal, got int)")
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors
    assert all(r.exc_info is None for r in errors)  # the error line carries no trace
    assert any(r.levelname == "DEBUG" and r.exc_info for r in caplog.records)


def test_a_night_left_partial_by_a_ledger_failure_is_finished_by_the_catch_up_at_restart(world: World):
    """The ledger stops after 3 of 9 journals; the service restarts at 04:00: the catch-up runs the night
    again under the same occurrence (its claim was not finished `ok`), and the other six are posted then,
    not a night later."""
    days = [date(2026, 10, d) for d in range(23, 32)]
    for n, day in enumerate(days, start=1):
        world.source.set(f"{n}0.00", day)
    world.ledger.journals_per_request = 3
    world.ledger.faults.extend(["ok", "ok", "ok", "reconnect"])
    world.clock.now = datetime(2026, 11, 1, 6, 31, tzinfo=UTC)  # 01:31 EST: tonight's 01:30 run
    world.app.settings.schedule.nightly_at = "01:30"
    run_job(world.app, NIGHTLY, "acme-us")
    with UnitOfWork(world.app.engine) as uow:
        [night] = uow.runs.latest(1, kind="sync")
    assert night.status == "partial"
    assert len(world.ledger.journals) == 3

    world.clock.now = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # restarted at 04:00, the grant restored
    specs = job_specs(world.app)
    fired = Recorder()
    assert catch_up(ManualScheduler(), world.app, specs, fired) == ["acme-us"]
    scheduler = ManualScheduler()
    catch_up(scheduler, world.app, specs)
    scheduler.start()
    scheduler.tick()
    scheduler.shutdown()
    with UnitOfWork(world.app.engine) as uow:
        statuses = [r.status for r in uow.runs.latest(10, kind="sync")]
    assert statuses == ["succeeded", "partial"]
    assert len(world.ledger.journals) == 9
    assert catch_up(ManualScheduler(), world.app, specs, Recorder()) == []  # the night is done now
