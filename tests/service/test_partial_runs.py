"""A run that posted only part of its journals (the ledger died mid-post) is not "fine": it exits with
its own status (3), raises an alert, and makes /healthz say degraded until a run posts the rest."""

from __future__ import annotations

import json
import signal
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from connector.cli.base import ExitCode
from connector.service.alerts import find_alerts
from connector.service.sync import sync
from connector.store.db import make_engine
from tests.service.conftest import World
from tests.service.harness import write_config
from tests.service.test_health import client
from tests.service.test_processes import (  # noqa: F401 - child_env: the fixture
    child_env,
    creates,
    serving_url,
    sync_statuses,
    tokenbooks,
    wait_for,
)

OCT1, OCT2 = date(2026, 10, 1), date(2026, 10, 2)


def test_a_partial_run_alerts_and_degrades_health_until_the_rest_is_posted(world: World):
    world.source.set("120.00", OCT1)
    world.source.set("80.00", OCT2)
    world.ledger.faults.extend(["ok", "fail"])  # the first journal is created, the second is not
    world.clock.night_after(OCT2)
    first = sync(world.app, entity="acme-us", until=OCT2)
    assert first.status == "partial"

    [alert] = [a for a in find_alerts(world.app, "acme-us") if a.kind.startswith("run_")]
    assert alert.kind == "run_partial"
    assert "did only part of its work" in alert.message
    assert "not posted yet" in alert.message  # the reason: which journal waits
    health = client(world, dict).get("/healthz").json()
    assert health["status"] == "degraded"
    assert any("last sync run partial" in p for p in health["problems"])

    world.clock.now = world.clock.now.replace(hour=3)
    second = sync(world.app, entity="acme-us", until=OCT2)
    assert second.status == "succeeded"
    assert [a for a in find_alerts(world.app, "acme-us") if a.kind.startswith("run_")] == []
    assert client(world, dict).get("/healthz").json()["status"] == "ok"


def test_the_sync_command_exits_3_when_journals_were_left_unposted(tmp_path, child_env):  # noqa: F811
    config = write_config(
        tmp_path / "config.json",
        facts=[("10.00", "2026-10-01"), ("20.00", "2026-10-02")],
        ledger=tmp_path / "ledger.json",
        faults=json.dumps(["ok", "fail"]),
    )
    child = tokenbooks(config, "sync", "--until", "2026-10-02", "--json", env=child_env, cwd=tmp_path)
    out, err = child.communicate(timeout=120)
    assert child.returncode == ExitCode.PARTIAL == 3, err
    assert json.loads(out)["status"] == "partial"


def test_a_night_whose_ledger_connection_dies_mid_post_records_what_reached_the_ledger(world: World):
    """A backfill of nine days posts in write requests of three; the grant is revoked after the first
    request. The three journals in the ledger are booked: the run is partial and says so in numbers."""
    days = [date(2026, 10, d) for d in range(1, 10)]
    for n, day in enumerate(days, start=1):
        world.source.set(f"{n}0.00", day)
    world.ledger.journals_per_request = 3
    world.ledger.faults.extend(["ok", "ok", "ok", "reconnect"])
    world.clock.night_after(days[-1])
    night = sync(world.app, entity="acme-us", until=days[-1])

    assert night.status == "partial"
    assert "posting stopped after 3 of 9 journal(s) reached the ledger" in night.reason
    assert "the other 6 wait in the outbox" in night.reason
    assert "grant was revoked" in night.reason
    with world.app.store.unit_of_work() as uow:
        run = uow.runs.get(night.run_id)
    assert run.status == "partial"
    assert (run.stats["posted"], run.stats["failed"]) == (3, 3)  # the request refused is retried
    with world.app.store.unit_of_work() as uow:
        [finished] = [e for e in uow.events.for_run(night.run_id) if e.kind == "run.finished"]
    assert finished.level == "warning"  # not an info line: a log watcher sees the night stopped part way
    assert len(world.ledger.journals) == 3
    kinds = {a.kind for a in find_alerts(world.app, "acme-us")}
    assert "run_partial" in kinds

    world.clock.now = world.clock.now.replace(hour=3)  # reconnected: the next run posts the other six
    again = sync(world.app, entity="acme-us", until=days[-1])
    assert again.status == "succeeded"
    assert len(world.ledger.journals) == 9
    assert again.post.reached == 6


def test_the_sync_command_says_how_many_journals_reached_the_ledger_before_it_stopped(
    tmp_path,
    child_env,  # noqa: F811
):
    config = write_config(
        tmp_path / "config.json",
        facts=[("10.00", "2026-10-01"), ("20.00", "2026-10-02"), ("30.00", "2026-10-03")],
        ledger=tmp_path / "ledger.json",
        faults=json.dumps(["ok", "reconnect"]),
        journals_per_request=1,
    )
    child = tokenbooks(config, "sync", "--until", "2026-10-03", "--json", env=child_env, cwd=tmp_path)
    out, err = child.communicate(timeout=120)
    assert child.returncode == ExitCode.PARTIAL, err
    said = json.loads(out)
    assert said["status"] == "partial"
    assert said["posted"] == ["TB-AC-261001-001"]
    assert "posting stopped after 1 of 3 journal(s) reached the ledger" in said["reason"]
    assert "Traceback" not in err

    runs = tokenbooks(config, "runs", "--json", env=child_env, cwd=tmp_path)
    out, err = runs.communicate(timeout=60)
    [run] = json.loads(out)
    assert (run["status"], run["stats"]["posted"]) == ("partial", 1), run


def test_a_service_restarted_after_a_partial_night_posts_the_rest_at_once(tmp_path, child_env):  # noqa: F811
    """`tokenbooks serve` runs tonight's sync; the ledger stops after the first journal (grant revoked):
    the night is partial. Stopped, reconnected and started again, the service catches the night up at
    once and posts the other journals, each exactly once."""
    until = datetime.now(UTC).date() - timedelta(days=1)
    days = [until - timedelta(days=n) for n in (2, 1, 0)]
    facts = [(f"{10 * (n + 1)}.00", day.isoformat()) for n, day in enumerate(days)]
    ledger = tmp_path / "ledger.json"
    a_minute_ago = datetime.now(ZoneInfo("America/New_York")) - timedelta(minutes=1)
    child_env |= {
        "TOKENBOOKS_WEB__PORT": "0",
        "TOKENBOOKS_SCHEDULE__NIGHTLY_AT": f"{a_minute_ago:%H:%M}",
        "TOKENBOOKS_OPENAI__START_DATE": days[0].isoformat(),
    }
    revoked = write_config(
        tmp_path / "revoked.json",
        facts=facts,
        ledger=ledger,
        faults=json.dumps(["ok", "reconnect"]),
        journals_per_request=1,
    )
    engine = make_engine(child_env["TOKENBOOKS_DATABASE_URL"])
    first = tokenbooks(revoked, "serve", env=child_env, cwd=tmp_path)
    serving_url(first)  # started: its schema is there
    wait_for(lambda: sync_statuses(engine) == ["partial"], "the first night to stop part way", first)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    assert len(creates(ledger)) == 1

    config = write_config(tmp_path / "config.json", facts=facts, ledger=ledger)  # reconnected
    second = tokenbooks(config, "serve", env=child_env, cwd=tmp_path)
    serving_url(second)
    wait_for(lambda: "succeeded" in sync_statuses(engine), "the restart to finish the night", second)
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=60)

    assert second.returncode == 0, err
    assert sync_statuses(engine) == ["succeeded", "partial"]  # the restart ran the night again
    keys = [c["key"] for c in creates(ledger)]
    assert len(keys) == len(set(keys)) == 3  # the other two posted, none twice
    engine.dispose()
