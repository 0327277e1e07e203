"""`tokenbooks --help`, a usage error and every command's start load the command line, the ledger registry
(each ledger's target shape, settings section and connection) and nothing a command may not need: no
composition root, settings, use case, store or source of tokenbooks; no ledger SDK or HTTP stack (a
registry entry imports its adapter in `build`); no SQLAlchemy, migrations (alembic) or scheduler; no
warehouse engine (duckdb, sqlglot, boto3, google), console server (uvicorn, starlette) or xlsx writer
(openpyxl). Each is imported inside the command or function that uses it (docs/architecture.md, "Layers"
and "Adding a ledger"; the figures in docs/performance.md, "Start-up of the command line"). Run in a fresh interpreter, because this test process has imported them all already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NOT_AT_START = (
    # tokenbooks' own: the composition root and what it builds
    "connector.bootstrap",
    "connector.settings",
    "connector.service",
    "connector.store",
    "connector.sources",
    "connector.scheduler",
    "connector.web",
    "connector.sandbox",
    # the ledgers' SDKs and HTTP (intuitlib itself is a namespace package every interpreter here loads)
    "quickbooks",
    "intuitlib.client",
    "xero_python",
    "jwt",
    "requests",
    "urllib3",
    "werkzeug",
    # the store, its migrations, the scheduler
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "apscheduler",
    # warehouse engines, the console server, the xlsx writer
    "duckdb",
    "sqlglot",
    "boto3",
    "botocore",
    "google",
    "uvicorn",
    "starlette",
    "openpyxl",
)

LOADED = """
import json, sys
import connector.cli
print(json.dumps(sorted(sys.modules)))
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`tokenbooks …` as a person runs it, in a child process on this checkout."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from connector.cli import main; sys.argv[0] = 'tokenbooks'; main()",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def loaded_of(modules: list[str], names: tuple[str, ...]) -> list[str]:
    """Which of `names` (a module and everything under it) are among the loaded `modules`."""
    return sorted({name for name in names for m in modules if m == name or m.startswith(f"{name}.")})


def test_the_command_line_loads_nothing_a_command_may_not_need_at_import() -> None:
    run = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT
    )
    loaded = json.loads(run.stdout)
    # the probe saw the command line's own imports, the registry among them
    assert loaded_of(loaded, ("typer", "connector.ledgers.registry")) == [
        "connector.ledgers.registry",
        "typer",
    ]
    assert loaded_of(loaded, NOT_AT_START) == []


def test_the_probe_sees_what_it_looks_for() -> None:
    """An entry that imported its adapter again would load the SDK: the probe names it."""
    loaded = ["connector.ledgers.quickbooks.adapter", "quickbooks.objects.account", "intuitlib", "sqlmodel"]
    assert loaded_of(loaded, NOT_AT_START) == ["quickbooks", "sqlmodel"]


def test_help_lists_every_area_of_commands_without_them() -> None:
    run = cli("--help")
    assert run.returncode == 0, run.stderr
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
        assert command in run.stdout
    connect = cli("connect", "--help")
    assert connect.returncode == 0, connect.stderr
    assert "quickbooks or xero" in connect.stdout  # the registry's connectable ledgers, without their SDKs


def test_a_usage_error_is_said_plainly_with_status_2() -> None:
    run = cli("sync", "--no-such-option")
    assert run.returncode == 2
    assert "No such option: --no-such-option" in run.stderr
    assert "Traceback" not in run.stderr
