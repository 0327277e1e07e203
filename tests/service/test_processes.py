"""Real processes: two `tokenbooks sync` at once for one entity, on SQLite and on PostgreSQL.

Each child is the real CLI (tests/service/harness.py) over a ledger kept in a file the processes share,
so a journal created twice would be seen there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.service.harness import write_config
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
