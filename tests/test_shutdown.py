"""SIGTERM as documented: `serve` and `sync` stop at the next safe point — never mid-batch, never after
sitting out the ledger's pacing or a throttle budget — and the process ends by itself, its run recorded."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from connector.bootstrap import build_app
from connector.domain.errors import Interrupted
from connector.settings import Settings
from tests.service.harness import write_config
from tests.service.test_processes import child_env, tokenbooks  # noqa: F401 - child_env: the fixture
from tests.support import MINIMAL_MAPPING

FACTS = [("10.00", "2026-10-01"), ("20.00", "2026-10-02")]


def test_a_shutdown_request_cuts_a_pacing_or_retry_wait_short(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    app = build_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'tb.db'}", mapping_file=mapping, data_dir=tmp_path)
    )
    threading.Timer(0.2, app.stopping.set).start()  # what the SIGTERM handler does
    started = time.monotonic()
    with pytest.raises(Interrupted, match="nothing more was sent"):
        app.sleep(47)  # the wait the ledger's pacing asked for (47 s measured before the fix)
    assert time.monotonic() - started < 5


def test_sigterm_lets_a_sync_finish_its_batch_and_end_by_itself(tmp_path: Path, child_env):  # noqa: F811
    ledger, release, inside = tmp_path / "ledger.json", tmp_path / "release", tmp_path / "inside"
    config = write_config(
        tmp_path / "config.json", facts=FACTS, ledger=ledger, hold_until=release, marker=inside
    )
    child = tokenbooks(config, "sync", "--until", "2026-10-02", "--json", env=child_env, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not inside.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)  # while the batch is inside the ledger call
    time.sleep(0.5)
    assert child.poll() is None, "the sync died at once, mid-batch"
    release.touch()
    out, err = child.communicate(timeout=60)

    assert child.returncode == 0, err  # ended by itself, not killed by the signal (-15)
    assert json.loads(out)["status"] in ("succeeded", "abandoned")
    keys = [c["key"] for c in json.loads(ledger.read_text())["creates"]]
    assert sorted(keys) == ["TB-AC-261001-001", "TB-AC-261002-001"]  # the batch went through, once
