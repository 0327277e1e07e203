"""`tokenbooks policies …`, `close`, `report …`: the accounting policies, month-end close, reports."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from connector.cli.base import (
    EntityOption,
    JsonFlag,
    RichReporter,
    app,
    app_and_entity,
    app_for,
    console,
    day_option,
    period_option,
    plain_errors,
    print_json,
    print_problems,
    problem_json,
    show_run,
    whole,
)
from connector.cli.mappings import write_schema
from connector.cli.operations import raise_alerts_after_run
from connector.cli.sync import print_sync
from connector.domain.money import format_money
from connector.domain.periods import Period

# ----------------------------------------------------------------------------- accounting policies (issue 5)

policies_app = typer.Typer(
    help="The accounting policies: check, schema, versions used.", no_args_is_help=True
)
app.add_typer(policies_app, name="policies")
PoliciesFileOption = Annotated[
    Path | None, typer.Option("--file", help="Policies file; default TOKENBOOKS_POLICIES_FILE.")
]


@policies_app.command("check")
def policies_check(file: PoliciesFileOption = None, as_json: JsonFlag = False) -> None:
    """Validate the policies: the file (file:line), its version number, the mapping roles it needs, rates."""
    from connector.service.imports import entity_accounts
    from connector.service.policies import check_policies_file

    with plain_errors(as_json):
        application = app_for()
        path = file or application.settings.policies_file
        mapping, _ = application.mapping()
        report = check_policies_file(
            application.store, mapping, path, lambda entity: entity_accounts(application, entity)
        )
    policies = report.policies
    if as_json:
        print_json(
            {
                "file": str(path) if path else None,
                "ok": report.ok,
                "version": policies.version if policies else None,
                "effective_from": policies.effective_from if policies else None,
                "problems": [problem_json(p) for p in report.problems],
                "entities": {e.id: policies.entity(e.id).summary() for e in mapping.entities}
                if policies
                else {},
            }
        )
    else:
        print_problems(report.problems)
        if report.ok and policies is not None:
            where = path or "no TOKENBOOKS_POLICIES_FILE: the built-in defaults"
            console.print(
                f"[green]✓[/] {where}: version {policies.version} (effective {policies.effective_from}). "
                + (f"{len(report.problems)} warning(s)." if report.problems else "No problems found."),
                highlight=False,
            )
    if not report.ok:
        raise typer.Exit(2)


@policies_app.command("schema")
def policies_schema(
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead.")] = None,
) -> None:
    """Print the JSON Schema of the policies file (editors use it to validate as you type)."""
    from connector.domain.policy_schema import policy_schema

    write_schema(policy_schema(), output, "policies")


@policies_app.command("history")
def policies_history(as_json: JsonFlag = False) -> None:
    """Every version of the policies a run has used: number, effective date, change note, first seen."""

    with plain_errors(as_json):
        application = app_for(read_only=True)
        with application.store.unit_of_work() as uow:
            rows = uow.policies.all()
    versions = [
        {
            "version": r.version,
            "effective_from": r.effective_from,
            "change_note": r.change_note,
            "first_seen_at": r.first_seen_at.isoformat(),
            "applied_at": r.applied_at.isoformat() if r.applied_at else None,
            "source": r.source,
            "hash": r.content_hash,
        }
        for r in rows
    ]
    if as_json:
        print_json(versions)
        return
    if not versions:
        console.print("No policies version used yet (a sync records the first one it uses).")
        return
    table = Table(title="Accounting policies versions")
    for column in ("version", "effective from", "change note", "first seen", "applied"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v["version"]),
            str(v["effective_from"]),
            str(v["change_note"]),
            str(v["first_seen_at"])[:16],
            str(v["applied_at"] or "not yet")[:16],
        )
    console.print(table)


@app.command("close")
def close_command(
    period: Annotated[str, typer.Option(help="The month to close, YYYY-MM (it must have ended).")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Month-end close: book and post what the period still needs, reconcile it, print the checklist."""
    from connector.service.close import close_month

    with plain_errors(as_json):
        month = period_option(period)
        application, target = app_and_entity(entity)
        with RichReporter(quiet=as_json) as reporter:
            result = close_month(application, entity=target, period=month, reporter=reporter)
        raise_alerts_after_run(application, target)
    show_run(result, as_json, _close_json, _print_close)


def _close_json(result: Any) -> dict:
    checklist = result.checklist
    body: dict[str, Any] = {
        "run_id": result.run_id,
        "entity": result.entity,
        "period": str(result.period),
        "status": result.status,
        "reason": result.reason,
        "sync_run_id": result.sync.run_id if result.sync else None,
        "posted": (result.sync.post.posted if result.sync and result.sync.post else []),
    }
    if checklist is None:
        return body
    return body | {
        "ready": checklist.ready,
        "accruals": [
            {**_fields(a), "not_invoiced": a.not_invoiced, "liability": a.liability}
            for a in checklist.accruals
        ],
        "prepaid_lots": [_fields(lot) for lot in checklist.lots],
        "prepaid_accounts": [_fields(p) for p in checklist.prepaid],
        "deferred_revenue": [_fields(d) for d in checklist.deferred],
        "suspense": checklist.suspense,
        "held": [_fields(h) for h in checklist.held],
        "reconciliation": [
            {"provider": p, "account": a, "status": s} for p, a, s in checklist.reconciliation
        ],
        "not_posted": [_fields(j) for j in checklist.unposted],
        # signed (+ debit, − credit to `booked_to`), with its side and the words the CLI prints
        "booked_later": [{**_fields(b), "side": b.side, "entry": b.entry} for b in checklist.booked_later],
        "refused_days": [_fields(r) for r in checklist.refused],
        "missing_days": [_fields(m) for m in checklist.missing],
        "no_cost_confirmed": [_fields(m) for m in checklist.no_cost_confirmed],
        "misconfigured_sources": [_fields(m) for m in checklist.misconfigured],
        "blockers": [_fields(b) for b in checklist.blockers],
    }


def _fields(item: Any) -> dict:
    return asdict(item)


def _print_close(result: Any) -> None:
    title = f"Close {result.period} — {result.entity}"
    console.rule(f"[bold]{title}[/]")
    if result.sync is not None:
        print_sync(result.sync, through=result.period)
    checklist = result.checklist
    if result.status == "failed":  # with the checklist of what the store holds, when there is one
        # a failed sync's error was printed with the sync, just above: said once, then what to do
        said = result.reason or ""
        if result.sync is not None and result.sync.status == "failed":
            said = (
                f"the sync above failed; fix it, then run `tokenbooks close --period {result.period}` again"
            )
        console.print(f"[red]Close failed:[/] {escape(said)}", highlight=False, soft_wrap=True)
    if checklist is None:
        return
    table = Table(title="Accrued AI costs per provider account")
    texts = ("provider", "account", "currency")
    for column in (*texts, "accrued", "true-up", "reversed", "invoiced", "not invoiced"):
        table.add_column(column, justify="left" if column in texts else "right")
    for a in checklist.accruals:
        invoiced = "—" if a.invoiced is None else f"{a.invoiced:,.2f}"
        table.add_row(
            whole(a.provider),
            whole(a.provider_account),
            a.currency,
            f"{a.accrued:,.2f}",
            f"{a.true_up:,.2f}",
            f"{a.reversed:,.2f}",
            invoiced,
            f"{a.not_invoiced:,.2f}",
        )
    console.print(table)
    if checklist.lots:
        lots = Table(title=f"Prepaid credit lots on {result.period.last_day}")
        for column in (
            "lot",
            "provider",
            "account",
            "currency",
            "amount",
            "used",
            "written off",
            "balance",
            "expires",
        ):
            lots.add_column(
                column, justify="right" if column in ("amount", "used", "written off", "balance") else "left"
            )
        for lot in checklist.lots:
            soon = f" [yellow](within {lot.expires_within} days)[/]" if lot.expires_within else ""
            lots.add_row(
                whole(lot.lot_id),
                whole(lot.provider),
                whole(lot.provider_account),
                lot.currency,
                f"{lot.amount:,.2f}",
                f"{lot.used:,.2f}",
                f"{lot.written_off:,.2f}",
                f"{lot.balance:,.2f}",
                f"{lot.expires_on or 'never'}{soon}",
            )
        console.print(lots)
    if checklist.prepaid:
        _print_prepaid_accounts(checklist.prepaid, result.period)
    if checklist.deferred:
        deferred = Table(title="Deferred revenue per customer grant")
        for column in ("customer", "grant", "product", "currency", "sold", "revenue", "breakage", "deferred"):
            deferred.add_column(
                column, justify="right" if column in ("sold", "revenue", "breakage", "deferred") else "left"
            )
        for d in checklist.deferred:
            deferred.add_row(
                d.customer,
                d.grant_id,
                d.product,
                d.currency,
                f"{d.sold:,.2f}",
                f"{d.revenue:,.2f}",
                f"{d.breakage:,.2f}",
                f"{d.deferred:,.2f}",
            )
        console.print(deferred)
    for currency, amount in checklist.suspense.items():
        if amount:
            console.print(
                f"[yellow]Suspense:[/] {format_money(amount, currency)} waits for a mapping rule.",
                highlight=False,
            )
    if checklist.booked_later:
        console.print(
            f"Booked for {result.period} after its lock, in a later period of the ledger (its figures above "
            f"count them; the ledger's {result.period} does not):",
            highlight=False,
        )
        for later in checklist.booked_later:
            console.print(
                f"  {later.key} on {later.txn_date}: {later.kind}, {later.entry}, belongs to {later.original_date}",
                highlight=False,
            )
    for provider, account, status in checklist.reconciliation:
        console.print(f"Reconciliation {provider} {account}: {status.replace('_', ' ')}", highlight=False)
    for quiet in checklist.no_cost_confirmed:
        console.print(
            f"No cost on {quiet.day} for {quiet.provider} {quiet.provider_account}: confirmed in the policies "
            "(no_cost_days)",
            highlight=False,
        )
    blockers = checklist.blockers
    if blockers:
        console.print(f"[yellow]Not ready to sign off — {len(blockers)} item(s):[/]", highlight=False)
        for number, blocker in enumerate(blockers, start=1):
            # escaped: a blocker quotes what it names (a setting's value, a row) and may hold brackets
            console.print(f"  {number}. {escape(blocker.what)}", highlight=False, soft_wrap=True)
            console.print(f"     [bold]Fix:[/] {escape(blocker.fix)}", highlight=False, soft_wrap=True)
    verdict = (
        "[green]ready to sign off[/]"
        if checklist.ready
        else f"[yellow]not ready ({len(blockers)} item(s))[/]"
    )
    console.print(f"Run {result.run_id}: {result.status} — {verdict}", highlight=False)


def _print_prepaid_accounts(lines: list[Any], period: Period) -> None:
    """Prepaid provider accounts: owed an invoice only beyond their lots; the lots' balance beside the books'."""
    table = Table(title=f"Prepaid provider accounts, {period} (balances on {period.last_day})")
    columns = (
        "provider",
        "account",
        "drawn",
        "beyond the lots",
        "lots bought",
        "lots' remaining",
        "as booked",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("provider", "account") else "right")
    for p in lines:
        amounts = (p.drawn, p.beyond_lots, p.bought, p.remaining, p.booked)
        table.add_row(p.provider, p.provider_account, *(f"{a:,.2f}" for a in amounts))
    console.print(table)


@app.command("report")
def report_command(
    name: Annotated[str, typer.Argument(help="spend | costs | tokens | prepaid | breakage | margin")],
    first: Annotated[
        str | None, typer.Option("--from", help="First month, YYYY-MM; default: 11 months before --to.")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last month, YYYY-MM; default: this month.")
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="costs: project, workspace, model, category, tag:team, tag:feature …")
    ] = "project",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="prepaid, breakage: the day (YYYY-MM-DD); default: today.")
    ] = None,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """The figures finance tracks: spend by month, cost by project/team/feature, cost per 1k tokens by model,
    prepaid utilization and expiring credits, breakage actual vs expected, gross margin on AI usage."""
    from connector.service.finance_reports import run_report

    with plain_errors(as_json):
        application, target = app_and_entity(entity, read_only=True)
        to = period_option(last, "--to") if last else Period.of(application.clock().date())
        start = period_option(first, "--from") if first else Period(to.year - 1, to.month).next()
        report = run_report(
            application, name, entity=target, first=start, last=to, by=by, day=day_option(as_of, "--as-of")
        )
    if as_json:
        print_json(
            {
                "report": report.name,
                "title": report.title,
                "entity": target,
                "from": str(start),
                "to": str(to),
                "columns": list(report.columns),
                "rows": [dict(zip(report.columns, (*r.keys, *r.figures), strict=True)) for r in report.rows],
                **({"ledger_ties": [asdict(t) for t in report.ledger_ties]} if name == "spend" else {}),
            }
        )
        return
    table = Table(title=f"{report.title} — {target}, {start}..{to}")
    for index, column in enumerate(report.columns):
        table.add_column(
            column, justify="left" if index < len(report.rows[0].keys if report.rows else ()) else "right"
        )
    for row in report.rows:
        table.add_row(*row.keys, *("—" if f is None else f"{f:,}" for f in row.figures))
    console.print(table if report.rows else f"{report.title}: nothing to report for {start}..{to}.")
    if report.ledger_ties:
        console.print(_ledger_ties_table(report.ledger_ties))


def _ledger_ties_table(ties) -> Table:
    """Each month's spend tied to what the ledger holds that month, the difference line by line."""
    table = Table(title="Spend tied to the ledger, month by month (spend + differences = ledger)")
    for column in ("month", "currency", "line"):
        table.add_column(column)
    table.add_column("amount", justify="right")
    for tie in ties:
        table.add_row(tie.month, tie.currency, "spend that belongs to the month", f"{tie.spend:,}")
        for d in tie.differences:
            table.add_row("", "", d.why, f"{d.amount:+,}")
        agree = "" if tie.differences else " (agrees)"
        table.add_row("", "", f"in the ledger, by posting date{agree}", f"{tie.ledger:,}", end_section=True)
    return table
