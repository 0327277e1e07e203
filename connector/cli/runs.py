"""`tokenbooks runs`, `db upgrade`, `keygen`: the sync log, the schema, the encryption key."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.base import (
    JsonFlag,
    app,
    app_for,
    console,
    db_app,
    plain_errors,
    print_json,
    print_rows,
)
from connector.domain.errors import ConfigError, InputError
from connector.ledgers.tokens import TokenCipher

# ---------------------------------------------------------------------------------------------- runs, keys


@app.command("runs")
def runs_command(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    run_id: Annotated[str | None, typer.Option("--run", help="Show the events of one run.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The sync log: recent runs with their outcome and reason, or one run's events."""

    with plain_errors(as_json):
        application = app_for(read_only=True)
        with application.store.unit_of_work() as uow:
            if run_id:
                run = _one_run(uow, run_id)
                rows = [
                    {
                        "at": e.at,
                        "actor": e.actor,
                        "kind": e.kind,
                        "level": e.level,
                        "message": e.message,
                        "hash": e.hash,
                    }
                    for e in uow.events.for_run(run.id)
                ]
            else:
                rows = [
                    {
                        "run_id": r.id,
                        "kind": r.kind,
                        "entity": r.entity,
                        "actor": r.actor,
                        "started_at": r.started_at,
                        "finished_at": r.finished_at,
                        "status": r.status,
                        "reason": r.reason,
                        "stats": r.stats,
                    }
                    for r in uow.runs.latest(limit)
                ]
    columns = (
        ["at", "actor", "kind", "level", "message"]
        if run_id
        else ["started_at", "kind", "entity", "actor", "status", "reason", "run_id"]
    )
    print_rows(
        rows, as_json, f"Events of run {run.id} ({run.kind}, by {run.actor})" if run_id else "Runs", columns
    )


def _one_run(uow, run_id: str):
    """The run named by its id, or by the first characters of it when only one run starts so."""
    run = uow.runs.get(run_id)
    if run is not None:
        return run
    found = uow.runs.starting_with(run_id)
    if len(found) == 1:
        return found[0]
    raise InputError(
        f"no run has the id {run_id!r}"
        if not found
        else f"{len(found)} or more runs have an id starting with {run_id!r}",
        fix="`tokenbooks runs` lists the runs with their ids; give the whole id, or more of it",
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations to the database named by TOKENBOOKS_DATABASE_URL (safe to run again)."""
    from connector.bootstrap import upgrade_store
    from connector.settings import load_settings

    with plain_errors():
        where, before, now = upgrade_store(load_settings())
    console.print(f"{where}: schema {before or 'empty'} → {now}", highlight=False)


@app.command("keygen")
def keygen() -> None:
    """Print a new TOKENBOOKS_ENCRYPTION_KEY (it encrypts ledger tokens at rest)."""
    console.print(f"TOKENBOOKS_ENCRYPTION_KEY={TokenCipher.generate_key()}")


keys_app = typer.Typer(help="The encryption key of ledger tokens at rest: rotate it.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate(as_json: JsonFlag = False) -> None:
    """Re-encrypt every stored ledger token under the first key of TOKENBOOKS_ENCRYPTION_KEY.

    To change keys: `tokenbooks keygen`, set TOKENBOOKS_ENCRYPTION_KEY=NEW,OLD, run this, then set it to
    NEW alone. Ledgers keep working throughout; nobody reconnects.
    """
    with plain_errors(as_json):
        rotated, unreadable = app_for().token_vault().rotate_key()
        if unreadable:
            raise ConfigError(
                f"{len(unreadable)} connection(s) could not be read with any key, and were left as they were: "
                f"{', '.join(unreadable)} ({rotated} re-encrypted)",
                fix="add the key they were saved with after the new one (TOKENBOOKS_ENCRYPTION_KEY=NEW,OLD) "
                "and run this again, or reconnect them with `tokenbooks connect`",
            )
    if as_json:
        print_json({"rotated": rotated})
        return
    console.print(
        f"{rotated} connection(s) re-encrypted under the first key; you may now remove the old key(s) "
        "from TOKENBOOKS_ENCRYPTION_KEY.",
        highlight=False,
    )
