"""`tokenbooks sandbox quickbooks|xero`: the local ledger sandboxes on their own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.cli.base import sandbox_app

# ---------------------------------------------------------------------------------------------- sandbox


@sandbox_app.command("quickbooks")
def sandbox_quickbooks(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8710,
    state: Annotated[Path, typer.Option(help="State file: the company persists here between runs.")] = Path(
        ".tokenbooks/quickbooks-sandbox.json"
    ),
) -> None:
    """Run the stateful QuickBooks Online sandbox on its own (Ctrl-C stops it)."""
    from connector.sandbox import quickbooks as quickbooks_sandbox  # here: loaded only to be served

    state.parent.mkdir(parents=True, exist_ok=True)
    quickbooks_sandbox.serve(port, state)


# ------------------------------------------------------------------------------------------------- xero


@sandbox_app.command("xero")
def sandbox_xero(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8720,
    state: Annotated[
        Path, typer.Option(help="State file: the organisation persists here between runs.")
    ] = Path(".tokenbooks/xero-sandbox.json"),
) -> None:
    """Run the stateful Xero sandbox (identity, connections, Accounting API) on its own (Ctrl-C stops it)."""
    from connector.sandbox import xero as xero_sandbox  # here: loaded only to be served

    state.parent.mkdir(parents=True, exist_ok=True)
    xero_sandbox.serve(port, state)
