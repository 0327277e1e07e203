"""`tokenbooks pull`, `import …`, `credits …`, `sources status`: getting provider data in."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from connector.cli.base import (
    EntityOption,
    ExitCode,
    JsonFlag,
    RichReporter,
    app,
    app_and_entity,
    app_for,
    cell_text,
    console,
    credits_app,
    day_option,
    errors,
    import_app,
    period_option,
    plain_errors,
    print_json,
    print_refused,
    print_rows,
    problem_json,
    refused_json,
    show_run,
    sources_app,
    whole,
)
from connector.domain.errors import ConfigError
from connector.domain.money import currency_code, format_exact, format_money, parse_amount

# ------------------------------------------------------------------------------------ ingestion (issue 3)
# tokenbooks pull · import focus|invoices|credits|customer-credits|bills · credits add|list|void · sources status

ProviderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--provider", help="Only these providers (openai, anthropic, invoices); repeat for several."
    ),
]


@app.command("pull")
def pull_command(
    provider: ProviderOption = None,
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD); default: from the bookmark.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD); default: yesterday (UTC).")
    ] = None,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Pull provider costs and usage, and the invoice inbox, into the store (no planning, no posting)."""
    from connector.service.pull import pull_sources

    with plain_errors(as_json):
        first, last = day_option(since, "--since"), day_option(until, "--until")
        application, target = app_and_entity(entity)
        with RichReporter(quiet=as_json) as reporter:
            run = pull_sources(
                application,
                entity=target,
                providers=set(provider) if provider else None,
                since=first,
                until=last,
                invoices_dir=application.settings.invoices_dir,
                reporter=reporter,
            )
    show_run(run, as_json, _pull_json, _print_pull)


def _pull_json(run: Any) -> dict:
    return {
        "run_id": run.run_id,
        "entity": run.entity,
        "status": run.status,
        "reason": run.reason,
        "pulls": [
            {
                "source": p.source,
                "first_day": p.window.first_day,
                "last_day": p.window.last_day,
                "pages": p.pages,
                "facts": p.facts,
                "inserted": p.replaced.inserted,
                "restated": p.replaced.restated,
                "unchanged": p.replaced.unchanged,
                "withdrawn": p.replaced.withdrawn,
                "usage_buckets": p.usage.inserted + p.usage.restated + p.usage.unchanged,
                "warnings": p.warnings,
                **refused_json(p),
            }
            for p in run.pulls
        ],
        "failures": [{"source": name, "error": why} for name, why in run.failures],
        "invoices": None
        if run.inbox is None
        else {
            "imported": [_import_json(r) for r in run.inbox.imported],
            "unchanged": run.inbox.unchanged,
            "failed": [{"file": f, "error": e} for f, e in run.inbox.failed],
        },
    }


def _print_pull(run: Any) -> None:
    for p in run.pulls:
        console.print(
            f"{p.source} {p.window.first_day}..{p.window.last_day}: {p.facts} facts ({p.replaced.inserted} new, "
            f"{p.replaced.restated} restated, {p.replaced.withdrawn} withdrawn) from {p.pages} page(s)",
            highlight=False,
        )
        for warning in p.warnings:
            console.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
        print_refused(p)
    for name, why in run.failures:
        console.print(f"[red]{escape(name)} failed:[/] {escape(why)}", highlight=False)
    if run.inbox is not None:
        for report in run.inbox.imported:
            _print_import(report)
        for path, why in run.inbox.failed:
            console.print(f"[red]{escape(str(path))}:[/] {escape(why)}", highlight=False)
        if run.inbox.unchanged:
            console.print(f"{len(run.inbox.unchanged)} invoice file(s) already imported", highlight=False)
    style = {"succeeded": "green", "partial": "yellow", "failed": "red"}.get(run.status, "white")
    console.print(f"Run {run.run_id}: [{style}]{run.status}[/]", highlight=False)


def _import_json(report: Any) -> dict:
    return {
        "import_id": report.import_id,
        "run_id": report.run_id,
        "kind": report.kind,
        "status": report.status,
        "files": [f.as_dict() for f in report.files],
        "tally": report.tally.as_dict(),
        "balanced": report.balanced,
        "stored": report.stored,
        "warnings": report.warnings,
        "quarantined": [
            {**problem_json(q.problem), "raw": q.raw, "amount": q.amount, "currency": q.currency}
            for q in report.quarantined
        ],
    }


def _print_import(report: Any) -> None:
    rows = report.tally.as_dict()["rows"]
    amounts = report.tally.as_dict()["amounts"]
    table = Table(
        title=f"{report.kind} import {report.import_id[:8]}: {', '.join(f.path for f in report.files)}"
    )
    for column in ("", "rows", "amount"):
        table.add_column(column, justify="left" if not column else "right")
    for name in ("accepted", "quarantined", "skipped", "input"):
        money = ", ".join(format_exact(Decimal(a), c) for c, a in amounts[name].items()) or "—"
        table.add_row(name, f"{rows[name]:,}", money)
    console.print(table)
    mark = "[green]✓[/]" if report.balanced else "[red]✗[/]"
    console.print(f"{mark} accepted + quarantined + skipped = input", highlight=False)
    for q in report.quarantined[:50]:
        console.print(f"  [yellow]quarantined[/] {escape(str(q.problem))}", highlight=False)
    if len(report.quarantined) > 50:
        console.print(f"  … and {len(report.quarantined) - 50} more (use --json for all)")
    for warning in report.warnings:
        console.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
    stored = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.stored.items())
    style = {"succeeded": "green", "partial": "yellow"}.get(report.status, "red")
    console.print(f"[{style}]{report.status}[/]: {stored}", highlight=False)


def _show_imports(reports: list[Any], as_json: bool) -> None:
    """The reports; an import with any quarantined row exits PARTIAL (3), so a scheduled job notices, and
    its JSON says the same (`status` partial, `exit_code` 3)."""
    code = ExitCode.PARTIAL if any(r.status == "partial" for r in reports) else ExitCode.OK
    if as_json:
        shown = [{**_import_json(r), "exit_code": code} for r in reports]
        print_json(shown if len(shown) != 1 else shown[0])
    else:
        for report in reports:
            _print_import(report)
        if code == ExitCode.PARTIAL:
            errors.print(
                "[yellow]Partial:[/] some rows were quarantined (listed above); fix them in the file and "
                "import it again — the rows already imported are not doubled",
                highlight=False,
            )
    if code != ExitCode.OK:
        raise typer.Exit(code)


@import_app.command("focus")
def import_focus_command(
    files: Annotated[
        list[Path], typer.Argument(help="The files of one FOCUS export (.csv, .csv.gz, .parquet).")
    ],
    entity: EntityOption = None,
    all_services: Annotated[
        bool, typer.Option("--all-services", help="Import every service, not only AI and Machine Learning.")
    ] = False,
    provider: Annotated[
        str | None, typer.Option(help="Provider name when the export has no ProviderName.")
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(help="Billing account when the export has none (with the column: a check of it)."),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(help="Billing currency when the export has none (with the column: a check of it)."),
    ] = None,
    accept_duplicates: Annotated[
        bool,
        typer.Option(
            "--accept-duplicates",
            help="Identical rows are distinct charges (an export without line ids); default: quarantined.",
        ),
    ] = False,
    row_id: Annotated[
        str | None,
        typer.Option(
            "--row-id", help="The column holding each row's line id (default: x_LineItemId, x_RowId)."
        ),
    ] = None,
    unique_line_ids: Annotated[
        bool | None,
        typer.Option(
            "--unique-line-ids/--checked-line-ids",
            help="Trust the provider to write each line id once per file (AWS CUR: identity_line_item_id): "
            "a repeated id is not looked for, which makes large files faster; rows without an id are "
            "still checked. Default: TOKENBOOKS_FOCUS__UNIQUE_LINE_IDS (off: a line id given twice is "
            "quarantined).",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="What reads the rows: python, duckdb, or auto (DuckDB for large files); "
            "default: TOKENBOOKS_FOCUS__ENGINE (auto)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import a FOCUS 1.0–1.2 export (AWS Bedrock, Azure OpenAI, Vertex AI …); bad rows are quarantined."""
    from connector.service.imports import focus_options, import_focus
    from connector.sources.warehouse.choice import ENGINES

    with plain_errors(as_json):
        if engine is not None and engine not in ENGINES:
            raise ConfigError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
        application = app_for()
        options = focus_options(
            application,
            entity,
            provider=provider,
            account=account,
            currency=currency,
            accept_duplicates=accept_duplicates,
            row_id=row_id,
            **({} if unique_line_ids is None else {"unique_line_ids": unique_line_ids}),
        )
        if all_services:
            options = replace(options, services=None)
        with RichReporter(quiet=as_json) as reporter:
            report = import_focus(application, files, options, reporter, application.focus_reader(engine))
    _show_imports([report], as_json)


@import_app.command("invoices")
def import_invoices_command(
    files: Annotated[list[Path], typer.Argument(help="Invoice files (.csv or .json); see docs/invoices.md.")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import provider invoices (no provider offers an invoice API for OpenAI or Anthropic)."""
    _import_files("import_invoices", files, entity, as_json)


def _import_files(importer: str, files: list[Path], entity: str | None, as_json: bool) -> None:
    """Run one of the record-file importers of `service.imports` on each file and show its report."""
    from connector.service import imports

    with plain_errors(as_json):
        application, target = app_and_entity(entity)
        reports = [getattr(imports, importer)(application, path, entity=target) for path in files]
    _show_imports(reports, as_json)


@import_app.command("credits")
def import_credits_command(
    file: Annotated[Path, typer.Argument(help="Credit lots bought (.csv or .json); see docs/credits.md.")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import prepaid credit lots bought from providers (purchase date, amount, expiry)."""
    _import_files("import_credit_lots", [file], entity, as_json)


@import_app.command("customer-credits")
def import_customer_credits_command(
    file: Annotated[
        Path, typer.Argument(help="Customer credit events (.csv or .json); see docs/credits.md.")
    ],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import the credits you sell: purchases, redemptions, refunds and expiries per customer and grant."""
    _import_files("import_customer_credits", [file], entity, as_json)


@import_app.command("bills")
def import_bills_command(
    period: Annotated[str, typer.Option(help="The usage month the bills are for, YYYY-MM.")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Read provider bills the AP team entered in the ledger (dated the month after) as invoices."""
    from connector.service.invoices import import_ledger_bills, ledger_vendors

    with plain_errors(as_json):
        month = period_option(period)
        application, target = app_and_entity(entity)
        vendors = ledger_vendors(application.settings)
        if not vendors:
            raise ConfigError(
                "no provider has a ledger vendor name",
                fix="set TOKENBOOKS_OPENAI__LEDGER_VENDOR and/or TOKENBOOKS_ANTHROPIC__LEDGER_VENDOR",
            )
        invoices = import_ledger_bills(
            application.store,
            application.ledger(target),
            vendors=vendors,
            period=month,
            entity=target,
            clock=application.clock,
        )
    rows = [
        {
            "provider": i.provider,
            "account": i.provider_account,
            "number": i.number,
            "total": i.total,
            "currency": i.currency,
        }
        for i in invoices
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(
            f"{row['provider']} ({row['account']}) {row['number']}: {row['total']} {row['currency']}",
            highlight=False,
        )
    console.print(f"{len(rows)} bill(s) stored as invoices for {period}.")


@credits_app.command("add")
def credits_add_command(
    provider: Annotated[str, typer.Option(help="openai, anthropic, …")],
    amount: Annotated[str, typer.Option(help="What was paid, e.g. 1000.00.")],
    purchased: Annotated[str, typer.Option(help="Purchase date, YYYY-MM-DD.")],
    account: Annotated[
        str | None,
        typer.Option(
            help="The provider account (organization label), as its usage names it; default: the "
            "provider's one account tokenbooks knows (its ORGANIZATION setting)."
        ),
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "USD",
    expires: Annotated[
        str | None,
        typer.Option(help="First day the credits are void; OpenAI default: one year after purchase."),
    ] = None,
    lot_id: Annotated[
        str | None, typer.Option("--lot-id", help="Receipt or order number; default: generated.")
    ] = None,
    description: Annotated[str, typer.Option(help="A note, e.g. the receipt.")] = "",
    promotional: Annotated[
        bool,
        typer.Option(
            "--promotional",
            help="Credits the provider granted free (a promotion, a trial): no asset, no expense.",
        ),
    ] = False,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Record prepaid credits bought from a provider (a credit lot), or granted by it (--promotional)."""
    from connector.domain.credits import CreditLot, default_expiry
    from connector.service.imports import record_credit_lot

    with plain_errors(as_json):
        bought = day_option(purchased, "--purchased")
        assert bought is not None
        expiry = day_option(expires, "--expires") or default_expiry(provider.lower(), bought)
        paid = _option(
            "--amount",
            lambda: parse_amount(amount),
            "write a plain decimal such as 1000.00 (no thousands separators or currency symbols)",
        )
        if paid <= 0:
            raise ConfigError(
                f"--amount: {amount!r} is not positive", fix="give what was paid, e.g. --amount 1000.00"
            )
        code = _option(
            "--currency", lambda: currency_code(currency), "give an ISO 4217 code such as USD or EUR"
        )
        try:
            lot = CreditLot(
                entity="",
                provider=provider.lower(),
                provider_account=account or "",  # the provider's known account, once the app is built
                lot_id=lot_id or f"{provider.lower()}-{bought.isoformat()}-{amount}",
                purchase_date=bought,
                amount=paid,
                currency=code,
                expires_on=expiry,
                description=description,
                source="tokenbooks credits add",
                promotional=promotional,
            )
        except ValueError as exc:
            raise ConfigError(
                f"--expires: {exc}", fix="give a date after --purchased, or leave --expires out"
            ) from None
        application, target = app_and_entity(entity)
        new = record_credit_lot(application, replace(lot, entity=target))
    if as_json:
        print_json({"lot_id": lot.lot_id, "new": new, "expires_on": lot.expires_on})
        return
    console.print(
        f"{'Added' if new else 'Replaced'} lot {lot.lot_id}: {format_money(lot.amount, lot.currency)} of "
        f"{lot.provider} credits bought {lot.purchase_date}, expiring {lot.expires_on or 'never'}.",
        highlight=False,
    )


def _option(name: str, parse, fix: str):
    """An option's parsed value, or a ConfigError naming the option, what is wrong with it and the fix."""
    try:
        return parse()
    except ValueError as exc:  # MoneyError is a ValueError
        raise ConfigError(f"{name}: {exc}", fix=fix) from None


@credits_app.command("list")
def credits_list_command(entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Credit lots, soonest expiry first (the order consumption draws them)."""

    with plain_errors(as_json):
        application, target = app_and_entity(entity, read_only=True)
        with application.store.unit_of_work() as uow:
            lots = uow.credit_lots.for_entity(target, voided=True)
    lots.sort(key=lambda lot: (lot.expires_on is None, lot.expires_on or date.max, lot.purchase_date))
    rows = [
        {
            "lot_id": lot.lot_id,
            "provider": lot.provider,
            "account": lot.provider_account,
            "purchased": lot.purchase_date,
            "amount": lot.amount,
            "currency": lot.currency,
            "expires_on": lot.expires_on,
            "kind": "promotional" if lot.promotional else "bought",
            "source": lot.source,
            "pool": lot.pool or None,  # what may draw it: a FOCUS commitment, virtual currency or term
            "refund_of": lot.refund_of or None,
            "void": _void_json(lot.void),
            "status": "void" if lot.void else "in force",
        }
        for lot in lots
    ]
    columns = (
        "lot_id",
        "provider",
        "account",
        "purchased",
        "amount",
        "currency",
        "expires_on",
        "kind",
        "status",
    )
    print_rows(rows, as_json, f"Credit lots of {target}", columns, right=("amount",))


def _void_json(void: Any) -> dict | None:
    return None if void is None else {"at": void.at, "by": void.by, "reason": void.reason}


@credits_app.command("void")
def credits_void_command(
    lot_id: Annotated[str, typer.Argument(help="The lot's id, as `tokenbooks credits list` shows it.")],
    reason: Annotated[
        str | None, typer.Option(help="Why the lot is voided (kept in the audit log), e.g. 'entered twice'.")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Only when several provider accounts use the id.")
    ] = None,
    account: Annotated[
        str | None, typer.Option(help="Only when several provider accounts use the id.")
    ] = None,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Void a credit lot recorded in error: kept for the audit trail, drawn no more; the next sync books the
    difference (no journal is edited). A lot from a FOCUS export is voided by importing the export again."""
    from connector.service.lot_voids import void_credit_lot

    with plain_errors(as_json):
        application, target = app_and_entity(entity)
        voided = void_credit_lot(
            application, entity=target, lot_id=lot_id, reason=reason or "", provider=provider, account=account
        )
    lot, void = voided.lot, voided.void
    if as_json:
        print_json(
            {
                "lot_id": lot.lot_id,
                "provider": lot.provider,
                "account": lot.provider_account,
                "voided": voided.new,
                "void": _void_json(void),
            }
        )
        return
    what = f"lot {lot.lot_id} ({format_money(lot.amount, lot.currency)} of {lot.provider} {lot.provider_account} credits bought {lot.purchase_date})"
    console.print(
        f"Voided {what}: {void.reason}. The next sync books the difference from {lot.purchase_date} on."
        if voided.new
        else f"{what[0].upper()}{what[1:]} was already {void.describe()}: nothing changed.",
        highlight=False,
    )


@sources_app.command("status")
def sources_status_command(entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Per source: the first day of its history, how far it has read (bookmark, and the last day read
    when days were refused), its last success and its last error. A settings section that cannot be built
    is listed with why and the fix, the other sources as usual, and the command exits 2."""
    from connector.service.pull import entity_sources_status

    with plain_errors(as_json):
        application, target = app_and_entity(entity, read_only=True)
        statuses = entity_sources_status(application, target)
    rows = [
        {
            "source": s.source,
            "configured": s.configured,
            "first_day": s.first_day,
            "bookmark": s.bookmark,
            "read_through": s.read_through,
            "last_success_at": s.last_success_at,
            "last_error": s.last_error,
            "last_error_at": s.last_error_at,
            "refused_days": list(s.refused_days),
            "settings_error": _settings_error(s.misconfigured),
        }
        for s in statuses
    ]
    if as_json:
        print_json(rows)
    else:
        _print_sources(rows)
    if any(s.misconfigured for s in statuses):  # a scheduler sees the settings to fix; the listing is whole
        raise typer.Exit(ExitCode.CONFIG)


def _settings_error(misconfigured: Any) -> dict[str, str] | None:
    """A refused settings section as JSON: its variables, what is wrong, the fix."""
    if misconfigured is None:
        return None
    return {"section": misconfigured.section, "error": misconfigured.error, "fix": misconfigured.fix}


def _print_sources(rows: list[dict[str, Any]]) -> None:
    """The sources as a table; each refused settings section also on stderr, with its fix."""
    table = Table(title="Sources")
    for column in ("source", "from", "bookmark", "read through", "last success", "last error"):
        table.add_column(column)
    for row in rows:
        error = f"{cell_text(row['last_error_at'])} {row['last_error']}" if row["last_error"] else ""
        refused = row["settings_error"]
        if refused:
            error = f"settings refused: {refused['error']}" + (f"; {error}" if error else "")
        table.add_row(
            whole(str(row["source"])),
            cell_text(row["first_day"]),
            str(row["bookmark"] or "never pulled"),
            cell_text(row["read_through"]),
            cell_text(row["last_success_at"]),
            whole(error),
        )
    console.print(table)
    for row in rows:
        if refused := row["settings_error"]:
            errors.print(
                f"[bold red]Error:[/] {escape(row['source'])}: settings {escape(refused['section'])}… refused: "
                f"{escape(refused['error'])}",
                highlight=False,
            )
            if refused["fix"]:
                errors.print(f"[bold]Fix:[/] {escape(refused['fix'])}", highlight=False)
