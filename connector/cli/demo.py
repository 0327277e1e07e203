"""`tokenbooks demo`: a month of a fictional company's AI spend, booked night by night."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.cli.base import JsonFlag, RichReporter, app, console, plain_errors, print_json
from connector.cli.reconcile import print_reconciliation, reconciliation_json
from connector.domain.money import format_money
from connector.shutdown import stop_on_signals

# ------------------------------------------------------------------------------------------------ demo


@app.command()
def demo(
    as_json: JsonFlag = False,
    serve_console: Annotated[
        bool,
        typer.Option("--console", help="Then serve the web console over the demo's books (Ctrl-C stops)."),
    ] = False,
) -> None:
    """Book a month of a fictional company's AI spend into a local QuickBooks sandbox (no credentials)."""
    from connector.sandbox.demo import run_demo  # here: the sandboxes load only for the demo

    with plain_errors(as_json):
        if not as_json:
            console.rule("[bold]tokenbooks demo[/] — Acme Analytics, October 2026")
            console.print(
                "Starting the local QuickBooks sandbox and the OpenAI Costs replay; connecting through "
                "the sandbox's OAuth flow; then the nightly sync for each day of the month.\n"
            )
        # each night's suspense warning would repeat the month's one unmapped project 31 times on stderr:
        # the demo says it once, after the month (`_print_suspense`)
        with RichReporter(quiet=True) as reporter, _warnings_held():
            result = run_demo(
                reporter=reporter,
                on_night=None if as_json else _print_night,
                console=_serve_console if serve_console else None,
            )
    if as_json:
        print_json(_demo_json(result))
        return
    _print_demo(result)
    if result.failed:
        raise typer.Exit(1)


def _print_night(night: Any) -> None:
    pulled = sum(p.facts for p in night.pulls)
    restated = sum(p.replaced.restated for p in night.pulls)
    keys = (night.post.posted + night.post.found) if night.post else []
    amount = (
        sum(
            (sum((c.amount for c in p.journal.contributions), Decimal(0)) for p in night.plan.planned),
            Decimal(0),
        )
        if night.plan
        else Decimal(0)
    )
    day = night.pulls[0].window.last_day if night.pulls else ""
    text = f"{day}  pulled {pulled:>3} facts"
    if restated:
        text += f" ([yellow]{restated} restated by the provider[/])"
    if keys:
        text += f"  → posted {', '.join(keys)} ({format_money(amount, 'USD')})"
    else:
        text += "  → [dim]nothing new to post[/]"
    if night.status != "succeeded":
        text += f"  [red]{night.status}: {night.reason}[/]"
    console.print(text, highlight=False)


def _print_demo(result: Any) -> None:
    console.print()
    if result.posted_now == 0 and not result.failed:
        console.print(
            f"[bold green]Nothing new to post:[/] QuickBooks already holds all {result.journals_in_ledger} "
            "tokenbooks journals for the month (a re-run with no new data posts nothing).\n"
        )
    table = Table(title="What landed in QuickBooks (October 2026, read back from the ledger)")
    table.add_column("Account")
    table.add_column("Name")
    table.add_column("Balance (Dr + / Cr −)", justify="right")
    for number, name, balance in result.balances:
        table.add_row(number, name, f"{balance:,.2f}")
    console.print(table)
    print_reconciliation(result.reconciliation)
    _print_suspense(result.nights[-1].plan if result.nights else None)
    console.print(
        f"\nData: {result.data_dir} · sync log: `tokenbooks runs` · run `make demo` again: it posts nothing."
    )
    _print_console(
        result, "http://127.0.0.1:8787", "run `make console` (or `tokenbooks demo --console`) and open"
    )


@contextmanager
def _warnings_held() -> Iterator[None]:
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _print_suspense(plan: Any) -> None:
    """What the month left in suspense, once: each amount in its currency, and the spend no rule placed."""
    if plan is None:
        return
    for (provider, currency), amount in sorted(plan.suspense.items()):
        if not amount:
            continue
        kinds = "; ".join(
            u.describe() for u in plan.unmapped if (u.provider, u.currency) == (provider, currency)
        )
        console.print(
            f"[yellow]{format_money(amount, currency)} of {provider} spend matched no mapping rule[/] and sits "
            f"in suspense{f' ({kinds})' if kinds else ''}: add a rule for it with `tokenbooks mappings "
            "add-rule`; the next sync reclassifies it.",
            highlight=False,
        )


def _print_console(result: Any, url: str, how: str) -> None:
    console.print(f"\n[bold]The web console[/]: {how} [bold]{url}[/]", highlight=False)
    for username, role, password in result.users:
        console.print(f"  {role:<11} {username:<16} password {password}", highlight=False)


def _serve_console(application: Any, result: Any) -> None:
    from connector.web.server import ConsoleServer  # here: the server (uvicorn, Starlette) only when served

    stop = threading.Event()
    stop_on_signals(application.stopping, then=stop.set)
    server = ConsoleServer(application).start()
    _print_console(result, server.url, "serving at")
    console.print("Ctrl-C stops it.")
    stop.wait()
    server.stop()


def _demo_json(result: Any) -> dict:
    return {
        "posted_now": result.posted_now,
        "journals_in_ledger": result.journals_in_ledger,
        "nights": [
            {
                "run_id": n.run_id,
                "status": n.status,
                "reason": n.reason,
                "posted": n.post.posted if n.post else [],
            }
            for n in result.nights
        ],
        "balances": [{"account": a, "name": b, "balance": c} for a, b, c in result.balances],
        "reconciliation": [reconciliation_json(r) for r in result.reconciliation],
    }
