"""`tokenbooks --help` (and every command's start) loads no heavy library a command may not need: the
migrations (alembic), the warehouse engines (duckdb, sqlglot, boto3, google), the console server (uvicorn,
starlette), the xlsx writer (openpyxl). Each is imported inside the command or function that uses it. Run in a fresh interpreter,
because this test process has imported them all already."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("alembic", "duckdb", "sqlglot", "uvicorn", "starlette", "boto3", "botocore", "google", "openpyxl")

LOADED = """
import json, sys
import connector.cli
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_command_line_loads_no_heavy_library_at_import() -> None:
    run = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(run.stdout))
    assert "typer" in loaded  # the probe saw the command line's own imports
    assert sorted(loaded.intersection(HEAVY)) == []


def test_help_lists_every_area_of_commands_without_them() -> None:
    help_text = subprocess.run(
        [sys.executable, "-c", "from connector.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for command in (
        "sync",
        "import",
        "mappings",
        "demo",
        "web",
        "serve",
        "sandbox",
        "db",
        "users",
        "connect",
    ):
        assert command in help_text
