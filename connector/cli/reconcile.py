"""`tokenbooks reconcile`: provider cost ↔ invoice ↔ posted ↔ ledger, per provider and month."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from connector.cli.base import (
    EntityOption,
    JsonFlag,
    app,
    app_and_entity,
    busy_is_not_a_failure,
    console,
    period_option,
    plain_errors,
    print_json,
)

# ------------------------------------------------------------------------------------------- reconcile


@app.command("reconcile")
def reconcile_command(
    period: Annotated[str, typer.Option(help="The month to reconcile, YYYY-MM.")],
    entity: EntityOption = None,
    offline: Annotated[bool, typer.Option("--offline", help="Skip reading the ledger back.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compare provider cost, invoice, what tokenbooks posted and what the ledger holds, for a month."""
    from connector.service.reconcile import reconcile_run

    with plain_errors(as_json), busy_is_not_a_failure(as_json):
        month = period_option(period)
        application, target = app_and_entity(entity)
        results = reconcile_run(application, entity=target, period=month, read_back=not offline)
    if as_json:
        print_json({"period": period, "entity": target, "results": [reconciliation_json(r) for r in results]})
        return
    print_reconciliation(results)


def reconciliation_json(result: Any) -> dict:
    """One provider account's reconciliation for `--json` output."""
    d = result.input
    return {
        "provider": d.provider,
        "account": d.provider_account,
        "period": d.period,
        "currency": d.currency,
        "provider_cost": result.provider_cost,
        "invoice_total": d.invoice_total,
        "posted_total": d.posted_total,
        "true_up_total": d.true_up_total,
        "ledger_total": d.ledger_total,
        "coverage": result.coverage,
        "variance": result.variance,
        "explained": [{"item": label, "amount": amount} for label, amount in result.explained],
        "unexplained": result.unexplained,
        "tolerance": result.input.tolerance.describe(),
        "status": result.status.value,
        "findings": [f.as_dict() for f in result.findings],
    }


def print_reconciliation(results: list[Any]) -> None:
    """One column per provider account, one row per figure: fits a terminal and reads top to bottom."""
    if not results:
        console.print("Nothing to reconcile for this period (no facts, invoices or postings).")
        return
    table = Table(title=f"Reconciliation {results[0].input.period}")
    table.add_column("")
    for r in results:
        table.add_column(f"{r.input.provider}\n{r.input.provider_account}", justify="right")
    rows = [
        ("Provider cost", lambda r: f"{r.provider_cost:,.2f}"),
        ("Invoice", lambda r: "—" if r.input.invoice_total is None else f"{r.input.invoice_total:,.2f}"),
        ("Posted by tokenbooks", lambda r: f"{r.input.posted_total:,.2f}"),
        ("  of which true-up", lambda r: f"{r.input.true_up_total:,.2f}"),
        ("In the ledger", lambda r: "—" if r.input.ledger_total is None else f"{r.input.ledger_total:,.2f}"),
        ("Coverage", lambda r: "—" if r.coverage is None else f"{r.coverage:.2%}"),
        ("Status", _status_cell),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(r) for r in results])
    console.print(table)
    for r in results:
        for finding in r.findings:
            mark = "[green]✓[/]" if finding.holds else "[red]✗[/]"
            text = f" {mark} {r.input.provider}: {finding.check}"
            if not finding.holds:
                text += f": off by {finding.difference}"
            if finding.explanation:
                text += f" — {finding.explanation}"
            console.print(text, highlight=False)


def _status_cell(result: Any) -> str:
    colour = {"matched": "green", "within_tolerance": "green", "missing_invoice": "yellow"}.get(
        result.status.value, "red"
    )
    return f"[{colour}]{result.status.value}[/]"
