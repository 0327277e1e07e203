"""An exception tokenbooks did not expect, anywhere in any command: a recorded failure with a plain message
and the hint to report it, never a traceback on the terminal (the trace goes to the debug log).

Each case runs the real `tokenbooks` entry point in a subprocess with one function replaced by one that
raises — the way a bug would — and reads stderr as a person would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from tests.support import MINIMAL_MAPPING

# Runs the CLI's own `main` after replacing `module.name` with a function raising TypeError.
DRIVER = """
import importlib, sys
module, name = sys.argv[1].rsplit(".", 1)
def boom(*args, **kwargs):
    raise TypeError("amount columns take Decimal, got int")
setattr(importlib.import_module(module), name, boom)
from connector.cli import main
sys.argv = ["tokenbooks", *sys.argv[2:]]
main()
"""


def tokenbooks(tmp_path: Path, broken: str, *args: str) -> subprocess.CompletedProcess:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TOKENBOOKS_") or key == "TOKENBOOKS_SHARED_DIR"
    } | {
        "TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}",
        "TOKENBOOKS_MAPPING_FILE": str(mapping),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # this checkout's code
    }
    return subprocess.run(
        [sys.executable, "-c", DRIVER, broken, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_plain(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    said = " ".join(result.stderr.split())  # as read, whatever the terminal's width
    assert "internal error (TypeError: amount columns take Decimal, got int)" in said
    assert "this is a bug in tokenbooks" in said
    assert "please report it" in said


def test_a_bug_inside_a_sync_is_recorded_as_a_failed_run_with_the_reason(tmp_path: Path):
    result = tokenbooks(tmp_path, "connector.service.sync._record_inputs", "sync", "--until", "2026-10-01")
    assert_plain(result)
    assert "is recorded as failed" in " ".join(result.stderr.split())
    env = {"TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}"}
    runs = CliRunner().invoke(app, ["runs", "--json"], env=env)
    (run,) = json.loads(runs.stdout)
    assert (run["kind"], run["status"]) == ("sync", "failed")
    assert run["reason"].startswith("internal error (TypeError: amount columns take Decimal, got int)")
    assert "please report it" in run["reason"]


@pytest.mark.parametrize(
    ("broken", "command"),
    [
        ("connector.bootstrap.build_app", ["reconcile", "--period", "2026-10"]),  # before any run
        ("connector.service.pull.PullRun", ["pull", "--until", "2026-10-01"]),  # inside a run
        ("connector.service.connections.connection_health", ["connections"]),
    ],
)
def test_a_bug_in_any_command_is_said_plainly(tmp_path: Path, broken: str, command: list[str]):
    assert_plain(tokenbooks(tmp_path, broken, *command))


def test_json_commands_get_the_error_as_json(tmp_path: Path):
    result = tokenbooks(tmp_path, "connector.service.connections.connection_health", "connections", "--json")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["kind"] == "InternalError"
    assert "internal error (TypeError" in payload["error"]
    assert "please report it" in payload["fix"]


def test_debug_shows_the_trace_on_request(tmp_path: Path):
    result = tokenbooks(tmp_path, "connector.service.connections.connection_health", "--debug", "connections")
    assert result.returncode == 1
    assert "Traceback" in result.stderr  # asked for with --debug, and only then
    assert "internal error (TypeError" in result.stderr


def test_debug_shows_the_trace_of_a_bug_inside_a_sync(tmp_path: Path):
    """`sync` sets up its own log handler at the settings' level (INFO): it replaced the one `--debug`
    had set, so `tokenbooks --debug sync` said "run the command again with --debug for the full trace"
    and showed none."""
    result = tokenbooks(
        tmp_path, "connector.service.sync._record_inputs", "--debug", "sync", "--until", "2026-10-01"
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert ", in boom\n" in result.stderr  # the trace down to the frame that raised
