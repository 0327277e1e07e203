"""Real processes, on SQLite and on PostgreSQL: two `tokenbooks sync` at once for one entity, and a
`tokenbooks serve` killed mid-run and restarted.

Each child is the real CLI (tests/service/harness.py) over a ledger kept in a file the processes share,
so a journal created twice would be seen there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from connector.store.db import make_engine
from connector.store.unit_of_work import UnitOfWork
from tests.service.harness import write_config
from tests.service.test_health import samples
from tests.support import MINIMAL_MAPPING

ROOT = Path(__file__).resolve().parents[2]
FACTS = [("10.00", "2026-10-01"), ("20.00", "2026-10-02"), ("30.00", "2026-10-03")]


@pytest.fixture
def child_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENBOOKS_")}
    env |= {
        "TOKENBOOKS_DATABASE_URL": database_url,
        "TOKENBOOKS_MAPPING_FILE": str(mapping),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
        "TOKENBOOKS_ACTOR": "test",
        "PYTHONPATH": str(ROOT),
    }
    return env


def tokenbooks(config: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.service.harness", str(config), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def creates(ledger: Path) -> list[dict]:
    return json.loads(ledger.read_text())["creates"]


def test_two_syncs_started_together_one_runs_and_the_other_says_busy(tmp_path: Path, child_env):
    ledger, release = tmp_path / "ledger.json", tmp_path / "release"
    config = write_config(tmp_path / "config.json", facts=FACTS, ledger=ledger, hold_until=release)
    args = ["sync", "--until", "2026-10-03", "--json"]
    children = [tokenbooks(config, *args, env=child_env, cwd=tmp_path) for _ in range(2)]

    first_done = _first_to_exit(children, timeout=60)  # the winner waits in the ledger until released
    release.touch()
    other = children[1 - children.index(first_done)]
    out, err = first_done.communicate(timeout=60)
    other_out, other_err = other.communicate(timeout=60)

    assert first_done.returncode == 0, err
    assert json.loads(out) == {"status": "busy", "reason": json.loads(out)["reason"]}
    assert "entity acme-us is busy" in json.loads(out)["reason"]
    assert other.returncode == 0, other_err
    assert json.loads(other_out)["status"] == "succeeded"
    keys = [c["key"] for c in creates(ledger)]
    assert keys == ["TB-AC-261001-001", "TB-AC-261002-001", "TB-AC-261003-001"]  # each once
    assert {c["outcome"] for c in creates(ledger)} == {"created"}


def _first_to_exit(children: list[subprocess.Popen], timeout: float) -> subprocess.Popen:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                return child
        time.sleep(0.05)
    for child in children:
        child.kill()
    raise AssertionError("neither process finished: both are waiting in the ledger, so both hold the lock")


def test_a_service_killed_mid_run_is_restarted_and_completes_the_run_without_duplicates(tmp_path, child_env):
    """`tokenbooks serve` catches up tonight's missed sync at start; killed (SIGKILL) after the ledger
    created the first journal but before the answer was recorded; restarted, it marks the dead run
    abandoned, finds the first journal in the ledger instead of creating it again, and posts the rest."""
    until = datetime.now(UTC).date() - timedelta(days=1)
    days = [until - timedelta(days=n) for n in (2, 1, 0)]
    facts = [(f"{10 * (n + 1)}.00", day.isoformat()) for n, day in enumerate(days)]
    ledger, marker = tmp_path / "ledger.json", tmp_path / "hung"
    a_minute_ago = datetime.now(ZoneInfo("America/New_York")) - timedelta(minutes=1)
    child_env |= {
        "TOKENBOOKS_WEB__PORT": "0",
        "TOKENBOOKS_SCHEDULE__NIGHTLY_AT": f"{a_minute_ago:%H:%M}",
        "TOKENBOOKS_OPENAI__START_DATE": days[0].isoformat(),
    }
    dying = write_config(tmp_path / "dying.json", facts=facts, ledger=ledger, hang_after=1, marker=marker)
    first = tokenbooks(dying, "serve", env=child_env, cwd=tmp_path)
    wait_for(marker.exists, "the first service to post its first journal", first)
    first.kill()  # SIGKILL: no handler runs, the run stays `running`, the journal stays `posting`
    first.wait(timeout=30)

    config = write_config(tmp_path / "config.json", facts=facts, ledger=ledger)
    second = tokenbooks(config, "serve", env=child_env, cwd=tmp_path)
    health_url = serving_url(second)
    engine = make_engine(child_env["TOKENBOOKS_DATABASE_URL"])
    wait_for(lambda: "succeeded" in sync_statuses(engine), "the restarted service to finish the sync", second)
    health = requests.get(f"{health_url}/healthz", timeout=10).json()
    metrics = requests.get(f"{health_url}/metrics", timeout=10).text
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=60)

    assert second.returncode == 0, err
    assert "tokenbooks stopped" in err
    assert sorted(sync_statuses(engine)) == ["abandoned", "succeeded"]
    keys = [c["key"] for c in creates(ledger)]
    assert len(keys) == len(set(keys)) == 3  # every journal created exactly once
    with UnitOfWork(engine) as uow:
        assert {s.status for s in uow.outbox.list("acme-us")} == {"posted"}
        found = [e for e in uow.events.all() if e.kind == "posting.found"]
    assert [e.data["key"] for e in found] == [keys[0]]
    [entity] = health["entities"]
    assert entity["last_run"]["status"] == "succeeded"
    assert entity["next_run"] is not None
    found = samples(metrics)
    assert (
        found[("tokenbooks_runs_total", (("entity", "acme-us"), ("kind", "sync"), ("status", "abandoned")))]
        == 1
    )
    assert found[("tokenbooks_journals_posted_total", (("entity", "acme-us"),))] == 3
    engine.dispose()


def test_health_says_a_run_is_stuck_when_the_service_running_it_was_killed(tmp_path, child_env):
    """`tokenbooks serve` is killed (SIGKILL, as the OOM killer does) in the middle of tonight's sync and
    nothing restarts it. The console (`tokenbooks web`, on the same database) does not say ok: /healthz
    names the stuck run, why, and what to do; the metric counts it."""
    until = datetime.now(UTC).date() - timedelta(days=1)
    facts = [("10.00", (until - timedelta(days=1)).isoformat()), ("20.00", until.isoformat())]
    ledger, marker = tmp_path / "ledger.json", tmp_path / "hung"
    a_minute_ago = datetime.now(ZoneInfo("America/New_York")) - timedelta(minutes=1)
    child_env |= {
        "TOKENBOOKS_WEB__PORT": "0",
        "TOKENBOOKS_SCHEDULE__NIGHTLY_AT": f"{a_minute_ago:%H:%M}",
        "TOKENBOOKS_OPENAI__START_DATE": facts[0][1],
    }
    dying = write_config(tmp_path / "dying.json", facts=facts, ledger=ledger, hang_after=1, marker=marker)
    service = tokenbooks(dying, "serve", env=child_env, cwd=tmp_path)
    wait_for(marker.exists, "the service to post its first journal", service)
    service.kill()
    service.wait(timeout=30)

    console = tokenbooks(dying, "web", env=child_env, cwd=tmp_path)
    try:
        url = serving_url(console)
        health = requests.get(f"{url}/healthz", timeout=10).json()
        metrics = requests.get(f"{url}/metrics", timeout=10).text
    finally:
        console.send_signal(signal.SIGTERM)
        _, err = console.communicate(timeout=60)

    assert health["status"] == "degraded"
    [problem] = health["problems"]
    assert "of acme-us (nightly job for" in problem
    assert f"is stuck `running`: the process {service.pid} on " in problem
    assert "that ran it is gone" in problem
    assert "Restart `tokenbooks serve`" in problem
    assert health["entities"][0]["last_run"]["status"] == "running"
    assert samples(metrics)[("tokenbooks_stuck_runs", (("entity", "acme-us"),))] == 1
    assert "Traceback" not in err


def test_a_cron_sync_killed_mid_run_is_stuck_in_health_and_alerted_once(tmp_path, child_env):
    """`tokenbooks sync` started by cron (or a systemd timer): no scheduled job, so no claim. While it
    runs (waiting in the ledger) the console's /healthz says ok; killed (SIGKILL) there, its run stays
    `running`, and /healthz names it stuck — the process and host that ran it, and the fix — instead of
    saying nothing until the next run abandons it. `tokenbooks alerts check` raises it once, in the
    same words."""
    ledger, marker, release = tmp_path / "ledger.json", tmp_path / "holding", tmp_path / "release"
    config = write_config(
        tmp_path / "config.json", facts=FACTS, ledger=ledger, hold_until=release, marker=marker
    )
    cron = tokenbooks(config, "sync", "--until", "2026-10-03", env=child_env, cwd=tmp_path)
    console = tokenbooks(config, "web", env=child_env | {"TOKENBOOKS_WEB__PORT": "0"}, cwd=tmp_path)
    try:
        url = serving_url(console)
        wait_for(marker.exists, "the cron sync to reach the ledger", cron)
        live = requests.get(f"{url}/healthz", timeout=10).json()
        cron.kill()
        cron.wait(timeout=30)
        killed = requests.get(f"{url}/healthz", timeout=10).json()
    finally:
        cron.kill()
        console.send_signal(signal.SIGTERM)
        _, err = console.communicate(timeout=60)

    assert (live["status"], live["problems"], live["entities"][0]["last_run"]["status"]) == (
        "ok",
        [],
        "running",
    )
    assert killed["status"] == "degraded"
    [problem] = killed["problems"]
    assert problem.startswith("sync run ")
    assert " of acme-us (not a scheduled job, started " in problem
    assert (
        f"is stuck `running`: the process {cron.pid} on {socket.gethostname()} that ran it is gone."
        in problem
    )
    assert "Run `tokenbooks sync --entity acme-us` (or let the next scheduled run do it)" in problem
    [stuck] = killed["entities"][0]["stuck"]
    assert (stuck["job"], stuck["holder_gone"], stuck["holder"].split(":")[1]) == (None, True, str(cron.pid))
    assert "Traceback" not in err

    for _ in range(2):  # the service checks after every run, cron after each sync: each time, one alert
        check = tokenbooks(config, "alerts", "check", env=child_env, cwd=tmp_path)
        _, check_err = check.communicate(timeout=60)
        assert check.returncode == 0, check_err
    listed = tokenbooks(config, "alerts", "list", "--json", env=child_env, cwd=tmp_path)
    out, list_err = listed.communicate(timeout=60)
    assert listed.returncode == 0, list_err
    [alert] = [a for a in json.loads(out) if a["kind"] == "run_stuck"]
    assert (alert["severity"], f"{alert['message']} {alert['action']}") == ("error", problem)


def sync_statuses(engine) -> list[str]:
    """The statuses of the newest sync runs in the store, newest first."""
    with UnitOfWork(engine) as uow:
        return [r.status for r in uow.runs.latest(10, kind="sync")]


def serving_url(child: subprocess.Popen) -> str:
    """The address a started `tokenbooks serve` (or `web`) child says it serves health on."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = child.stderr.readline()
        for says in ("serving health on ", "tokenbooks console on "):  # serve, web
            if says in line:
                return line.split(says)[1].split()[0]
        if not line and child.poll() is not None:
            break
    child.kill()
    raise AssertionError(f"the service did not start: {child.stderr.read()}")


def wait_for(condition, what: str, child: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until `condition()` holds; fail naming `what` if `child` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if child.poll() is not None:
            raise AssertionError(
                f"the process exited ({child.returncode}) waiting for {what}: {child.stderr.read()}"
            )
        time.sleep(0.1)
    child.kill()
    raise AssertionError(f"timed out waiting for {what}")
