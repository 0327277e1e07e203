"""/healthz and /metrics: what the service says about itself, read from the store."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from connector.health import health_routes
from connector.leases import lease_owner
from connector.service.alerts import find_alerts, raise_alerts
from connector.service.sync import sync
from connector.store.db import make_engine
from connector.store.job_claims import JobClaims
from connector.store.tables import ConnectionRow, JobClaimRow, RunRow
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.service.test_reconcile import invoice, reconcile

NEXT = datetime(2026, 10, 3, 6, 30, tzinfo=UTC)


def client(world: World, next_runs=lambda: {"acme-us": NEXT}) -> TestClient:
    """/healthz and /metrics as the console's ASGI application serves them."""
    return TestClient(Starlette(routes=health_routes(world.app, next_runs)))


def a_quickbooks_connection(world: World, **stored: object) -> None:
    """A stored QuickBooks connection of acme-us, as `stored` says it is."""
    with UnitOfWork(world.app.engine) as uow:
        uow.session.add(
            ConnectionRow(
                ledger="quickbooks", entity="acme-us", company_id="123", token_ciphertext="x", **stored
            )
        )
        uow.commit()


def test_a_healthy_service_says_ok_with_its_last_and_next_run(world: World):
    world.source.set("120.00", date(2026, 10, 1))
    world.source.set("2.50", date(2026, 10, 1), project="proj_nobody_mapped")  # waits in suspense
    world.clock.night_after(date(2026, 10, 1))
    sync(world.app, entity="acme-us", until=date(2026, 10, 1))
    response = client(world).get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    [entity] = body["entities"]
    assert entity["last_run"]["status"] == "succeeded"
    assert entity["next_run"].startswith("2026-10-03 06:30")
    found = samples(client(world).get("/metrics").text)
    assert (
        found[("tokenbooks_runs_total", (("entity", "acme-us"), ("kind", "sync"), ("status", "succeeded")))]
        == 1
    )
    assert found[("tokenbooks_facts_pulled_total", (("entity", "acme-us"),))] == 2
    assert found[("tokenbooks_journals_posted_total", (("entity", "acme-us"),))] == 1
    assert (
        found[
            ("tokenbooks_journals", (("entity", "acme-us"), ("ledger", "quickbooks"), ("status", "posted")))
        ]
        == 1
    )
    assert found[("tokenbooks_ledger_api_calls_total", (("entity", "acme-us"), ("kind", "write")))] == 1
    assert found[("tokenbooks_database_up", ())] == 1
    assert ("tokenbooks_last_success_timestamp_seconds", (("entity", "acme-us"),)) in found
    suspense = (
        "tokenbooks_suspense_amount",
        (("currency", "USD"), ("entity", "acme-us"), ("provider", "openai")),
    )
    assert found[suspense] == 2.5  # a metric sample (float), per provider and currency


def test_suspense_of_an_open_month_stays_in_the_metric_after_quiet_nights_until_the_ledger_locks_it(
    world: World,
):
    """October ends with $2.50 nobody mapped. November's nights plan November alone (the window no longer
    reaches October): the spend still sits in suspense, so the metric keeps it — until the controller
    locks October in the ledger, when it is no longer an open month's."""
    suspense = (
        "tokenbooks_suspense_amount",
        (("currency", "USD"), ("entity", "acme-us"), ("provider", "openai")),
    )

    def night(day: date) -> float:
        world.clock.night_after(day)
        assert sync(world.app, entity="acme-us", until=day).status == "succeeded"
        return samples(client(world).get("/metrics").text).get(suspense, 0.0)

    world.source.set("120.00", date(2026, 10, 30))
    world.source.set("2.50", date(2026, 10, 30), project="proj_nobody_mapped")
    assert night(date(2026, 10, 31)) == 2.5
    for day in range(1, 8):  # quiet November nights, mapped spend only
        world.source.set("40.00", date(2026, 11, day))
        assert night(date(2026, 11, day)) == 2.5, f"night of 2026-11-{day:02}"
    world.ledger.lock = date(2026, 10, 31)  # October closed in the books
    world.source.set("40.00", date(2026, 11, 8))
    assert night(date(2026, 11, 8)) == 0


def test_a_failed_run_a_variance_and_a_lost_connection_make_it_degraded_and_alert(world: World):
    world.source.set("100.00", date(2026, 10, 1))
    world.clock.night_after(date(2026, 10, 31))
    sync(world.app, entity="acme-us", until=date(2026, 10, 31))
    invoice(world, "150.00")
    world.clock.now += timedelta(hours=1)
    reconcile(world)
    world.clock.now += timedelta(hours=1)
    world.source.broken = "the page has no data array"
    sync(world.app, entity="acme-us", until=date(2026, 10, 31))
    a_quickbooks_connection(
        world, status="reconnect_needed", last_error="refresh token revoked", updated_at=world.clock()
    )
    body = client(world).get("/healthz").json()
    assert body["status"] == "degraded"
    assert any("last sync run failed" in p for p in body["problems"])
    assert any("reconciliation openai/org-1 2026-10: variance" in p for p in body["problems"])
    assert any("needs a person to reconnect" in p for p in body["problems"])
    assert body["connections"] == [
        {"ledger": "quickbooks", "entity": "acme-us", "status": "reconnect_needed", "reconnect_needed": True}
    ]
    found = samples(client(world).get("/metrics").text)
    assert found[("tokenbooks_reconnect_needed", (("entity", "acme-us"), ("ledger", "quickbooks")))] == 1
    [variance] = [v for (name, labels), v in found.items() if name == "tokenbooks_reconciliation_variance"]
    assert variance == 50
    kinds = sorted(a.kind for a in find_alerts(world.app, "acme-us"))
    assert kinds == ["reconciliation_variance", "reconnect_needed", "run_failed"]


def test_a_database_that_does_not_answer_is_a_503_and_the_metrics_say_so(world: World):
    world.app.engine.dispose()
    world.app.engine = make_engine("postgresql://nobody:S3cretPw@127.0.0.1:9/none")  # nothing listens there
    response = client(world).get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    [problem] = response.json()["problems"]
    assert problem.startswith("the database postgresql://nobody:***@127.0.0.1:9/none is unavailable: ")
    metrics = client(world).get("/metrics")
    assert metrics.status_code == 200  # the scrape works: the outage is what it reports
    found = samples(metrics.text)
    assert found[("tokenbooks_database_up", ())] == 0
    assert not any(name.startswith("tokenbooks_runs") for name, _ in found)
    assert client(world).get("/elsewhere").status_code == 404


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus exposition, parsed by prometheus_client's own parser (so the text is
    valid exposition format, or this fails), keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_refresh_token_that_expired_unused_needs_a_reconnect_on_every_page_that_says_so(world: World):
    """Nothing ran against the ledger for months: the connection is still stored `ok`, but its refresh
    token expired in the meantime. `tokenbooks connections`, /healthz, the metric and the alert all say a
    person must reconnect, with the same reason."""
    from connector.service.connections import connection_health
    from connector.service.console import overview

    world.clock.now = datetime(2026, 10, 2, 9, 0, tzinfo=UTC)
    a_quickbooks_connection(
        world,
        status="ok",
        refresh_expires_at=datetime(2026, 9, 30, tzinfo=UTC),
        updated_at=datetime(2026, 6, 1, tzinfo=UTC),
    )

    [listed] = connection_health(world.app.store, world.clock(), readable=lambda _: True)
    assert (listed.health, listed.reason) == ("reconnect needed", "the refresh token expired on 2026-09-30")
    body = client(world).get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["connections"] == [
        {"ledger": "quickbooks", "entity": "acme-us", "status": "ok", "reconnect_needed": True}
    ]
    assert (
        "quickbooks connection of acme-us needs a person to reconnect (`tokenbooks connect quickbooks`): "
        "the refresh token expired on 2026-09-30" in body["problems"]
    )
    found = samples(client(world).get("/metrics").text)
    assert found[("tokenbooks_reconnect_needed", (("entity", "acme-us"), ("ledger", "quickbooks")))] == 1
    [alert] = [a for a in find_alerts(world.app, "acme-us") if a.kind == "reconnect_needed"]
    assert "the refresh token expired on 2026-09-30" in alert.message
    [shown] = overview(world.app, "acme-us").connections  # the console's first page
    assert (shown.status, shown.last_error) == ("reconnect_needed", "the refresh token expired on 2026-09-30")

    world.clock.now = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)  # a month earlier, it still worked: all agree
    assert client(world).get("/healthz").json()["connections"][0]["reconnect_needed"] is False
    found = samples(client(world).get("/metrics").text)
    assert found[("tokenbooks_reconnect_needed", (("entity", "acme-us"), ("ledger", "quickbooks")))] == 0
    assert [a for a in find_alerts(world.app, "acme-us") if a.kind == "reconnect_needed"] == []
    assert overview(world.app, "acme-us").connections[0].status == "ok"


def _a_run_left_running(world: World, run_id: str, owner: str | None) -> None:
    """A sync of acme-us recorded `running` by the process `owner` (host:pid:thread:nonce)."""
    with UnitOfWork(world.app.engine) as uow:
        uow.runs.start(
            run_id,
            "sync",
            entity="acme-us",
            params={},
            actor="serve",
            code_version="",
            owner=owner,
            now=world.clock(),
        )
        uow.commit()


def test_a_run_stuck_in_a_process_that_died_makes_health_say_so_until_a_run_takes_it_up(world: World):
    """`tokenbooks serve` was killed (-9, out of memory) mid-night: its run stays `running` and its
    claim unfinished. /healthz and the metric say the run is stuck — the holder's process is gone —
    instead of `ok`, until the next run of the entity abandons it and books the night."""
    world.source.set("120.00", date(2026, 10, 1))
    world.clock.night_after(date(2026, 10, 1))
    pid = _an_exited_pid()
    dead = f"{socket.gethostname()}:{pid}:1:dead"
    assert JobClaims(world.app.engine).claim("nightly:acme-us", "2026-10-01", dead) is None
    _a_run_left_running(world, "run-killed", dead.replace(":dead", ":run"))

    body = client(world).get("/healthz").json()
    assert body["status"] == "degraded"
    [problem] = body["problems"]
    assert problem.startswith(
        "sync run run-killed of acme-us (nightly job for 2026-10-01, started 2026-10-02 02:30"
    )
    assert f"is stuck `running`: the process {pid} on {socket.gethostname()} that ran it is gone" in problem
    assert "Restart `tokenbooks serve`" in problem
    [entity] = body["entities"]
    assert [(s["run_id"], s["holder_gone"]) for s in entity["stuck"]] == [("run-killed", True)]
    found = samples(client(world).get("/metrics").text)
    assert found[("tokenbooks_stuck_runs", (("entity", "acme-us"),))] == 1

    world.clock.now += timedelta(hours=1)
    assert sync(world.app, entity="acme-us", until=date(2026, 10, 1)).status == "succeeded"  # takes it up
    body = client(world).get("/healthz").json()
    assert (body["status"], body["entities"][0]["stuck"]) == ("ok", [])
    assert (
        samples(client(world).get("/metrics").text)[("tokenbooks_stuck_runs", (("entity", "acme-us"),))] == 0
    )


def test_a_run_whose_holder_elsewhere_stopped_renewing_its_claim_is_stuck_and_a_live_one_is_not(world: World):
    """A holder on another machine cannot be asked whether it lives: its heartbeat says. A claim renewed
    within its lease is a night in progress (ok); one whose lease ran out unrenewed is a stuck run."""
    world.clock.night_after(date(2026, 10, 1))
    _a_run_left_running(world, "run-elsewhere", "other-host:4242:1:run")
    now = datetime.now(UTC)
    renewed_a_minute_ago = JobClaims(world.app.engine, clock=lambda: now - timedelta(minutes=1))
    assert renewed_a_minute_ago.claim("nightly:acme-us", "2026-10-01", "other-host:4242:1:x") is None
    assert client(world).get("/healthz").json()["status"] == "ok"  # a night in progress

    with UnitOfWork(world.app.engine) as uow:  # its last renewal was an hour ago: the lease ran out
        uow.session.execute(update(JobClaimRow).values(expires_at=now - timedelta(minutes=45)))
        uow.commit()
    body = client(world).get("/healthz").json()
    assert body["status"] == "degraded"
    [problem] = body["problems"]
    assert (
        "is stuck `running`: the process 4242 on other-host that runs it has not renewed its claim" in problem
    )
    assert (
        f"(the lease ran out at {now - timedelta(minutes=45):%Y-%m-%d %H:%M} UTC): it died or hangs"
        in problem
    )


def test_a_live_cron_run_is_not_stuck_though_an_old_scheduled_claim_is(world: World):
    """`tokenbooks serve` died mid-night (its claim stays unfinished, its process gone); cron's
    `tokenbooks sync` took the entity up and is running now, in a live process. The dead claim is about
    the dead process's run, not this one: health says ok and no alert is raised. Once that cron process
    is gone too, its run is stuck — named by the process the run row records, with no claim to go by."""
    world.clock.night_after(date(2026, 10, 1))
    dead = f"{socket.gethostname()}:{_an_exited_pid()}:1:dead"
    assert JobClaims(world.app.engine).claim("nightly:acme-us", "2026-10-01", dead) is None
    _a_run_left_running(world, "run-by-cron", lease_owner())  # this test's process: alive

    body = client(world).get("/healthz").json()
    assert (body["status"], body["problems"], body["entities"][0]["stuck"]) == ("ok", [], [])
    assert [a for a in find_alerts(world.app, "acme-us") if a.kind == "run_stuck"] == []

    cron_gone = f"{socket.gethostname()}:{_an_exited_pid()}:1:cron"
    with UnitOfWork(world.app.engine) as uow:
        uow.session.execute(update(RunRow).values(owner=cron_gone))
        uow.commit()
    body = client(world).get("/healthz").json()
    [problem] = body["problems"]
    assert problem.startswith(
        "sync run run-by-cron of acme-us (not a scheduled job, started 2026-10-02 02:30"
    )
    assert f"the process {cron_gone.split(':')[1]} on {socket.gethostname()} that ran it is gone" in problem
    assert problem.endswith(
        "Run `tokenbooks sync --entity acme-us` (or let the next scheduled run do it); it looks up in the "
        "ledger what the stopped run may have posted before posting the rest"
    )
    assert body["entities"][0]["stuck"] == [
        {
            "run_id": "run-by-cron",
            "job": None,
            "occurrence": None,
            "holder": cron_gone,
            "holder_gone": True,
            "lease_expires_at": None,
        }
    ]


def test_a_stuck_run_is_alerted_once_in_the_words_of_health(world: World):
    world.clock.night_after(date(2026, 10, 1))
    _a_run_left_running(world, "run-killed", f"{socket.gethostname()}:{_an_exited_pid()}:1:cron")
    [problem] = client(world).get("/healthz").json()["problems"]

    raise_alerts(world.app, "acme-us")
    world.clock.now += timedelta(days=1)  # still stuck the next day: the same run, not a new alert
    raise_alerts(world.app, "acme-us")
    with UnitOfWork(world.app.engine) as uow:
        stuck = [a for a in uow.alerts.newest(50) if a.kind == "run_stuck"]
        events = [e for e in uow.events.all() if e.kind == "alert.run_stuck"]
    [alert] = stuck
    assert (alert.subject, alert.severity, len(events)) == ("run-killed", "error", 1)
    assert f"{alert.message} {alert.action}" == problem


def _an_exited_pid() -> int:
    """The pid of a process that has exited: a holder that is gone."""
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(exited.stdout)
