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
from connector.domain.money import format_money, quantize

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
    """One provider account's reconciliation for `--json` output: `currency` is the provider's (its cost,
    the invoice, what tokenbooks posted as computed, the variance), `books_currency` the books' (what
    tokenbooks posted in it, what the ledger holds); each finding names its own."""
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
        "books_currency": d.ledger_currency,
        "posted_in_books": d.posted_in_ledger_currency,
        "ledger_total": d.ledger_total,
        "conversion": _conversion_json(d),
        "coverage": result.coverage,
        "variance": result.variance,
        "explained": [{"item": label, "amount": amount} for label, amount in result.explained],
        "unexplained": result.unexplained,
        "tolerance": result.input.tolerance.describe(d.currency),
        "status": result.status.value,
        "findings": [f.as_dict() for f in result.findings],
    }


def _conversion_json(d: Any) -> dict | None:
    """How what was posted in the books' currency was converted from the provider's (None: it was not)."""
    books = d.converted
    if books is None:
        return None
    return {
        "rates": [
            {
                "rate": r.rate.rate,
                "from": d.currency,
                "to": books.currency,
                "rate_day": r.rate.day,  # the rates file's row
                "source": r.rate.source,
                "first_day": r.first_day,  # the buckets it converted
                "last_day": r.last_day,
            }
            for r in books.rates
        ],
        "converted": books.converted,
        "at_rates": quantize(books.at_rates, books.currency),  # as the conversion finding compares them
        "rounding": books.converted - quantize(books.at_rates, books.currency),
        "converted_before_provider_amount_kept": books.read_back,
        "read_back_as": books.read_back_as,
    }


def print_reconciliation(results: list[Any]) -> None:
    """One column per provider account, one row per figure, each amount with its currency: fits a terminal
    and reads top to bottom."""
    if not results:
        console.print("Nothing to reconcile for this period (no facts, invoices or postings).")
        return
    table = Table(title=f"Reconciliation {results[0].input.period}")
    table.add_column("")
    for r in results:
        table.add_column(f"{r.input.provider}\n{r.input.provider_account}", justify="right")
    rows = [
        ("Provider cost", lambda r: _amount(r.provider_cost, r.input.currency)),
        ("Invoice", lambda r: _amount(r.input.invoice_total, r.input.currency)),
        ("Posted by tokenbooks", lambda r: _amount(r.input.posted_total, r.input.currency)),
        ("  of which true-up", lambda r: _amount(r.input.true_up_total, r.input.currency)),
    ]
    if any(r.input.converted for r in results):
        rows.append(
            (
                "Posted, in the books' currency",
                lambda r: _amount(r.input.posted_in_ledger_currency, r.input.ledger_currency),
            )
        )
    rows += [
        ("In the ledger", lambda r: _amount(r.input.ledger_total, r.input.ledger_currency)),
        ("Coverage", lambda r: "—" if r.coverage is None else f"{r.coverage:.2%}"),
        ("Status", _status_cell),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(r) for r in results])
    console.print(table)
    for r in results:
        for finding in r.findings:
            mark = "[green]✓[/]" if finding.holds else "[red]✗[/]"
            text = f" {mark} {r.input.provider}: {finding.title}"
            if not finding.holds:
                text += f": {finding.off_by}"
            if finding.explanation:
                text += f" — {finding.explanation}"
            console.print(text, highlight=False)


def _amount(value: Any, currency: str) -> str:
    return "—" if value is None else format_money(value, currency)


def _status_cell(result: Any) -> str:
    colour = {"matched": "green", "within_tolerance": "green", "missing_invoice": "yellow"}.get(
        result.status.value, "red"
    )
    return f"[{colour}]{result.status.value}[/]"
