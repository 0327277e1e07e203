"""Two `tokenbooks serve` on one database, and clocks that jump: each nightly and month-end occurrence
runs once — never twice, never zero times — and a claim left by a process that died does not block."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from connector.bootstrap import build_app
from connector.leases import JOB_LEASE
from connector.scheduler import add_jobs, claim_kept_alive, job_specs, run_job
from connector.store.job_claims import JobClaims
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.service.test_scheduler import IGNORE, ManualScheduler

FALL_BACK = "2026-11-01"  # America/New_York: 01:00–02:00 happens twice
SPRING_FORWARD = "2026-03-08"  # America/New_York: 02:00–03:00 never happens


def syncs(world: World) -> list:
    with UnitOfWork(world.app.engine) as uow:
        return [r for r in uow.runs.latest(100, kind="sync") if r.entity == "acme-us"]


def service(app) -> ManualScheduler:
    scheduler = ManualScheduler()
    add_jobs(scheduler, app, job_specs(app), run_job)
    scheduler.start()
    return scheduler


def second_service_on_the_same_database(world: World):
    return build_app(
        world.app.settings, clock=world.app.clock, ledgers={"acme-us": world.ledger}, sources=[world.source]
    )


def test_two_services_on_one_database_run_each_night_once_and_the_other_says_so(world: World, caplog):
    caplog.set_level(logging.INFO, logger="tokenbooks.serve")
    other = second_service_on_the_same_database(world)
    with freeze_time("2026-10-05 06:00:00", ignore=IGNORE) as clock:
        world.clock.now = datetime(2026, 10, 5, 6, 30, tzinfo=UTC)
        first, second = service(world.app), service(other)
        clock.move_to("2026-10-05 06:30:00")  # 02:30 in New York: both fire
        first.tick()
        second.tick()
        first.shutdown()
        second.shutdown()
    assert [r.status for r in syncs(world)] == ["succeeded"]
    [said] = [r.message for r in caplog.records if "skipped: already claimed by" in r.message]
    assert said.startswith("nightly acme-us for 2026-10-05 skipped: already claimed by ")


@pytest.mark.parametrize(
    ("night", "nightly_at", "ticks"),
    [
        (FALL_BACK, "01:30", ("05:30:00", "06:30:00")),  # 01:30 EDT, then 01:30 EST (CronTrigger hung here)
        (SPRING_FORWARD, "02:30", ("06:30:00", "07:30:00", "08:30:00")),  # 02:30 does not exist that night
    ],
)
def test_a_night_the_clocks_change_runs_the_nightly_once(world: World, night, nightly_at, ticks):
    world.app.settings.schedule.nightly_at = nightly_at
    with freeze_time(f"{night} 04:00:00", ignore=IGNORE) as clock:
        scheduler = service(world.app)
        for moment in ticks:
            clock.move_to(f"{night} {moment}")
            world.clock.now = datetime.fromisoformat(f"{night}T{moment}+00:00")
            scheduler.tick()
        scheduler.shutdown()
    assert len(syncs(world)) == 1


def test_a_claim_left_by_a_dead_process_is_taken_over_and_a_live_one_is_not(world: World):
    claims = JobClaims(world.app.engine)
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = f"{socket.gethostname()}:{int(exited.stdout)}:1:dead"
    assert claims.claim("nightly:acme-us", "2026-10-05", dead) is None
    assert claims.claim("nightly:acme-us", "2026-10-05", "me:1:1:x") is None  # its process is gone: at once

    elsewhere = "another-host:4242:1:alive"  # cannot be checked from here: its lease must run out
    assert claims.claim("nightly:acme-us", "2026-10-06", elsewhere, lease=timedelta(hours=2)) is None
    assert "another-host:4242" in claims.claim("nightly:acme-us", "2026-10-06", "me:1:1:x")
    later = JobClaims(world.app.engine, clock=lambda: datetime.now(UTC) + timedelta(hours=3))
    assert later.claim("nightly:acme-us", "2026-10-06", "me:1:1:x") is None  # the lease expired

    claims.finish("nightly:acme-us", "2026-10-06", "me:1:1:x", ok=False)
    assert claims.claim("nightly:acme-us", "2026-10-06", "catch-up:1:1:y") is None  # a failed one: again
    claims.finish("nightly:acme-us", "2026-10-06", "catch-up:1:1:y", ok=True)
    assert "finished" in claims.claim("nightly:acme-us", "2026-10-06", "me:1:1:x")  # a done one: never


def test_the_trigger_gives_each_local_day_one_fire_across_both_changes():
    from zoneinfo import ZoneInfo

    from connector.scheduler import LocalTimeTrigger

    zone = ZoneInfo("America/New_York")
    for hour, start, expected in (
        (
            1,
            "2026-10-31",
            ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
        (
            2,
            "2026-03-07",
            ["2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
    ):
        trigger, previous = LocalTimeTrigger(hour, 30, zone), None
        now = datetime.fromisoformat(f"{start}T00:00:00-05:00")
        fires = []
        for _ in range(3):
            previous = trigger.get_next_fire_time(previous, now)
            now = previous
            fires.append(previous.astimezone(zone).isoformat())
        assert fires == expected


def test_a_running_job_renews_its_claim_so_a_night_longer_than_the_lease_keeps_it(world: World):
    """The heartbeat: while the job runs its lease keeps moving, so no one takes the claim however long
    the night; once it stops beating (its holder died), the claim is taken over when the lease runs out."""
    claims = JobClaims(world.app.engine)
    lease = timedelta(seconds=2)  # beats every 0.67 s: a busy machine delays a beat, not by a lease
    holder, other = "another-host:1:1:running", "me:1:1:x"
    assert claims.claim("nightly:acme-us", "2026-10-07", holder, lease=lease) is None
    with claim_kept_alive(claims, "nightly:acme-us", "2026-10-07", holder, lease=lease):
        time.sleep(3)  # a lease and a half: without the heartbeat it would have expired
        assert "another-host:1" in claims.claim("nightly:acme-us", "2026-10-07", other)
    time.sleep(2.5)  # the beats stopped: the lease runs out
    assert claims.claim("nightly:acme-us", "2026-10-07", other) is None
    assert not claims.renew("nightly:acme-us", "2026-10-07", holder)  # no longer the holder's to renew


def test_a_finished_claim_is_not_renewed_and_a_claim_is_renewed_only_by_its_holder(world: World):
    claims = JobClaims(world.app.engine)
    assert claims.claim("nightly:acme-us", "2026-10-08", "me:1:1:x") is None
    assert not claims.renew("nightly:acme-us", "2026-10-08", "someone-else:2:2:y")
    assert claims.renew("nightly:acme-us", "2026-10-08", "me:1:1:x")
    claims.finish("nightly:acme-us", "2026-10-08", "me:1:1:x", ok=True)
    assert not claims.renew("nightly:acme-us", "2026-10-08", "me:1:1:x")


def test_a_claim_written_before_the_clock_stepped_back_blocks_the_job_a_lease_at_most(world: World):
    """A holder on another machine claimed tonight's job, then died; meanwhile NTP stepped this clock back
    six hours. Its claim runs out six hours and a lease ahead of us: it must not hold the night that long.
    A holder still alive on the stepped clock keeps its claim by renewing it."""
    now = datetime.now(UTC)
    before_the_step = JobClaims(world.app.engine, clock=lambda: now + timedelta(hours=6))
    assert before_the_step.claim("nightly:acme-us", "2026-10-09", "another-host:4242:1:dead") is None

    claims = JobClaims(world.app.engine, clock=lambda: now)
    said = claims.claim("nightly:acme-us", "2026-10-09", "me:1:1:x")
    assert "another-host:4242" in said  # not taken at once: the holder may be alive
    assert f"running until at least {now + JOB_LEASE:%H:%M} UTC" in said  # a lease from now, not six hours
    a_lease_later = JobClaims(world.app.engine, clock=lambda: now + JOB_LEASE + timedelta(seconds=1))
    assert a_lease_later.claim("nightly:acme-us", "2026-10-09", "me:1:1:x") is None

    assert before_the_step.claim("nightly:acme-us", "2026-10-10", "another-host:4242:1:alive") is None
    assert claims.claim("nightly:acme-us", "2026-10-10", "me:1:1:x") is not None
    a_beat_later = JobClaims(world.app.engine, clock=lambda: now + JOB_LEASE / 3)
    assert a_beat_later.renew("nightly:acme-us", "2026-10-10", "another-host:4242:1:alive")  # its heartbeat
    assert a_lease_later.claim("nightly:acme-us", "2026-10-10", "me:1:1:x") is not None  # still alive
