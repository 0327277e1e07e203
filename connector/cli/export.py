"""`tokenbooks export beancount`: what was posted, as plain-text accounting."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.base import (
    EntityOption,
    JsonFlag,
    app_and_entity,
    console,
    export_app,
    period_option,
    plain_errors,
    print_json,
)

# ----------------------------------------------------------------------------------------------- export


@export_app.command("beancount")
def export_beancount_command(
    period: Annotated[str, typer.Option(help="The month to export, YYYY-MM.")],
    entity: EntityOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of printing.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A period's posted journals as a beancount file (readable account names, balance assertions)."""
    from connector.ledgers.beancount.adapter import write_atomically
    from connector.service.beancount_export import export_beancount

    with plain_errors(as_json):
        month = period_option(period)
        application, target = app_and_entity(entity, read_only=True)
        mapping, _ = application.mapping()
        exported = export_beancount(
            application.store, mapping, entity=target, period=month, now=application.clock()
        )
        if out is not None:
            write_atomically(out, exported.text)
    if as_json:
        print_json(
            {
                "period": period,
                "entity": target,
                "journals": exported.journals,
                "out": str(out) if out else None,
                "balances": [
                    {"account": account, "currency": currency, "amount": amount}
                    for (account, currency), amount in sorted(exported.balances.items())
                ],
                "text": None if out else exported.text,
            }
        )
    elif out is None:
        sys.stdout.write(exported.text)
    else:
        console.print(
            f"Wrote {exported.journals} journal(s) of {target} for {period} to {out}.", highlight=False
        )
