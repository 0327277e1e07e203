"""/healthz as a monitoring system reads it the morning after a bad night, while people run other commands.

The nightly sync left a journal unposted (partial); before the next night someone pulls the providers and
runs `tokenbooks sync --dry-run` to look. Neither books anything, so the service must stay degraded and its
last success must stay the night's sync: a dry run is logged as a run of its own kind.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import requests

from tests.service.harness import write_config
from tests.service.test_health import samples
from tests.service.test_processes import child_env, tokenbooks, wait_for  # noqa: F401 - child_env: the fixture

FACTS = [("10.00", "2026-10-01"), ("20.00", "2026-10-02")]


def run(config: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    child = tokenbooks(config, *args, env=env, cwd=cwd)
    out, err = child.communicate(timeout=60)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def test_a_partial_night_stays_degraded_after_a_pull_and_a_dry_run(tmp_path: Path, child_env):  # noqa: F811
    ledger = tmp_path / "ledger.json"
    night = write_config(tmp_path / "night.json", facts=FACTS, ledger=ledger, faults=json.dumps(["reject"]))
    nightly = run(night, "sync", "--until", "2026-10-02", "--json", env=child_env, cwd=tmp_path)
    assert nightly.returncode == 3, nightly.stderr  # partial: one journal refused by the ledger
    morning = write_config(tmp_path / "morning.json", facts=FACTS, ledger=ledger)
    pull = run(morning, "pull", "--until", "2026-10-02", env=child_env, cwd=tmp_path)
    assert pull.returncode == 0, pull.stderr
    dry = run(morning, "sync", "--until", "2026-10-02", "--dry-run", "--json", env=child_env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr

    web = tokenbooks(morning, "web", env=child_env | {"TOKENBOOKS_WEB__PORT": "0"}, cwd=tmp_path)
    try:
        url = _console_url(web)
        health = requests.get(f"{url}/healthz", timeout=10).json()
        metrics = samples(requests.get(f"{url}/metrics", timeout=10).text)
    finally:
        web.send_signal(signal.SIGTERM)
        web.communicate(timeout=60)

    assert health["status"] == "degraded"
    assert any(p.startswith("last sync run partial: ") for p in health["problems"]), health["problems"]
    [entity] = health["entities"]
    assert entity["last_run"]["kind"] == "dry-run"  # the newest run, shown for what it is
    runs = json.loads(run(morning, "runs", "--json", env=child_env, cwd=tmp_path).stdout)
    assert [(r["kind"], r["status"]) for r in runs] == [
        ("dry-run", "succeeded"),
        ("pull", "succeeded"),
        ("sync", "partial"),
    ]
    assert entity["last_success_at"] == runs[2]["finished_at"].replace("T", " ")  # the night's, not the look
    dry_runs = (
        "tokenbooks_runs_total",
        (("entity", "acme-us"), ("kind", "dry-run"), ("status", "succeeded")),
    )
    assert metrics[dry_runs] == 1


def test_a_night_killed_mid_post_is_alerted_after_a_dry_run_took_up_the_entity(
    tmp_path: Path,
    child_env,  # noqa: F811
):
    """The nightly sync is killed (out of memory) after the ledger created its first journal: no alert is
    raised that night. In the morning someone runs `sync --dry-run`, which finds the dead run and marks it
    abandoned; then the hourly `alerts check` runs. The newest run is the dry run, which books nothing:
    the abandoned night must still be alerted, as /healthz reports it."""
    ledger, marker = tmp_path / "ledger.json", tmp_path / "hung"
    dying = write_config(tmp_path / "dying.json", facts=FACTS, ledger=ledger, hang_after=1, marker=marker)
    night = tokenbooks(dying, "sync", "--until", "2026-10-02", env=child_env, cwd=tmp_path)
    wait_for(marker.exists, "the night to post its first journal", night)
    night.kill()
    night.wait(timeout=30)

    morning = write_config(tmp_path / "morning.json", facts=FACTS, ledger=ledger)
    dry = run(morning, "sync", "--until", "2026-10-02", "--dry-run", "--json", env=child_env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    check = run(morning, "alerts", "check", env=child_env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    alerts = json.loads(run(morning, "alerts", "list", "--json", env=child_env, cwd=tmp_path).stdout)
    [night_alert] = [a for a in alerts if a["kind"].startswith("run_")]
    assert (night_alert["kind"], night_alert["subject"]) == ("run_failed", "sync")
    assert night_alert["message"].startswith("The sync run of acme-us abandoned: ")


def _console_url(child: subprocess.Popen) -> str:
    assert child.stderr is not None
    while line := child.stderr.readline():
        if "tokenbooks console on " in line:
            return line.split("tokenbooks console on ")[1].split()[0]
    raise AssertionError(f"the console did not start: {child.stderr.read()}")
