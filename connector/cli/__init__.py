"""The `tokenbooks` command line.

Plain words for people (tables, a progress bar on long pulls), `--json` for scripts. Every error that
tokenbooks raises on purpose is shown as what went wrong and how to fix it, with a non-zero exit code; a
run that failed is also recorded in the sync log with the same reason. One module per area of commands;
`base` holds what they share.

A command imports what it runs inside its function — the use cases, the settings, the composition root
(through `base.app_for`) — so `tokenbooks --help` and a usage error load only typer, rich and the ledger
registry (`tests/test_cli_imports.py`; docs/performance.md, "Start-up of the command line").
"""

from connector.cli import (  # noqa: F401 - importing a module registers its commands
    connections,
    demo,
    export,
    ingestion,
    mappings,
    operations,
    policies,
    reconcile,
    runs,
    sandboxes,
    sync,
    users,
)
from connector.cli.base import app, main

__all__ = ["app", "main"]
