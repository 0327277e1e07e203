"""The policies file moved on deployment (from a checkout to /etc/tokenbooks, or to a ConfigMap mount): the
same policies read from another path are no change, and a real change is named field by field in one
short log line, not as two dumps of every policy."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.service.harness import write_config
from tests.service.test_health_after_other_runs import run
from tests.service.test_processes import ROOT, child_env  # noqa: F401 - child_env: the fixture

FACTS = [("10.00", "2026-10-01"), ("20.00", "2026-10-02")]


def test_a_moved_policies_file_is_no_policy_change_and_a_real_change_is_named(tmp_path: Path, child_env):  # noqa: F811
    config = write_config(tmp_path / "config.json", facts=FACTS, ledger=tmp_path / "ledger.json")
    checkout, etc = tmp_path / "checkout", tmp_path / "etc"
    for folder in (checkout, etc):
        folder.mkdir()
        shutil.copy(ROOT / "mappings" / "policies.yaml", folder / "policies.yaml")

    def nightly(policies: Path, **env: str) -> str:
        variables = child_env | {"TOKENBOOKS_POLICIES_FILE": str(policies)} | env
        done = run(config, "sync", "--until", "2026-10-02", env=variables, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stderr

    nightly(checkout / "policies.yaml")
    moved = nightly(etc / "policies.yaml")
    assert "policy of acme-us changed" not in moved
    changed = nightly(etc / "policies.yaml", TOKENBOOKS_LEDGER_MODE="approve")
    [line] = [line for line in changed.splitlines() if "policy of acme-us changed" in line]
    assert line.endswith("accounting policy of acme-us changed: ledger_mode: auto → approve")
